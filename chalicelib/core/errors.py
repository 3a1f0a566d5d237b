"""The one error hierarchy. Services raise these; api/http.py maps them, once, to the contract's
body `{"error": {"code", "message"}}` with the status each class carries.

AppError derives from Chalice's ChaliceUnhandledError only so that Chalice lets it propagate out
of a view to our middleware instead of answering its own `{"Code", "Message"}` body; nothing in
the services depends on Chalice beyond that base class.
"""

from __future__ import annotations

from chalice.app import ChaliceUnhandledError


class AppError(ChaliceUnhandledError):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(AppError):
    status = 400
    code = "invalid_request"


class InvalidField(BadRequest):
    """A body or query field is missing, of the wrong type or out of range."""

    code = "invalid_field"

    def __init__(self, field: str, message: str, code: str | None = None) -> None:
        super().__init__(f"{field}: {message}", code)
        self.field = field


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Gone(AppError):
    status = 410
    code = "gone"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(AppError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = max(1, retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class BadGateway(AppError):
    """A service we call on the caller's behalf (Slack) failed or is unreachable: nothing the
    caller sent is wrong, and trying again later may work."""

    status = 502
    code = "upstream_unavailable"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}
