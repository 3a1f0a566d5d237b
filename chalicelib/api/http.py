"""HTTP plumbing shared by every blueprint: the one error mapping (as Chalice middleware), the
current request, JSON bodies (read strictly, API.md §0), and the decorators that authenticate and
authorize a view and refuse a body to the views that take none."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Collection
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from chalice.app import Request, Response

from chalicelib.api.validation import Body, Query, parse_json_object, refuse_body
from chalicelib.bootstrap import services
from chalicelib.core.config import MAX_BODY_BYTES
from chalicelib.core.errors import AppError, PayloadTooLarge, error_body
from chalicelib.core.log import annotate, correlation_id, get_logger, work
from chalicelib.domain.models import Role
from chalicelib.services.auth import require_admin_session, require_role

log = get_logger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

_current_request: ContextVar[Request | None] = ContextVar("current_request", default=None)
# Set while a view that takes no body runs (its decorator refused any field before it).
_takes_no_body: ContextVar[bool] = ContextVar("takes_no_body", default=False)
_READS_BODY = "reads_body"

# Chalice answers a few errors itself ({"Code", "Message"}); they are re-shaped to the contract.
_CHALICE_ERROR_CODES = {
    400: "invalid_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
}


def current_request() -> Request:
    request = _current_request.get()
    if request is None:
        raise RuntimeError("no request is being served")
    return request


def json_body(*, accepts: Collection[str]) -> Body:
    """The request's JSON object, which takes the fields `accepts` and no other (400
    `unknown_field`). Read it after the view's own 403/404 checks, and mark the view
    `@reads_body` so that its decorator lets the body through."""
    if _takes_no_body.get():
        raise RuntimeError("json_body() in a view that takes no body: mark the view @reads_body")
    return parse_json_object(_raw_body(), accepts=accepts)


def _raw_body() -> bytes | None:
    raw = current_request().raw_body
    return raw.encode() if isinstance(raw, str) else raw


def reads_body(view: View) -> View:
    """Marks a view that reads its body itself, with `json_body(accepts=...)`. Every other view
    behind `authenticated` or `platform_key_required` takes no body: its decorator refuses a
    body with any field (400 `unknown_field`) right after the caller is authenticated and
    allowed, before the view does anything; nothing, or `{}`, is fine."""
    setattr(view, _READS_BODY, True)
    return view


def _run_view(decorated: Callable[..., Any], call: Callable[[], Any]) -> Any:
    """Calls the view once the caller is authenticated (and allowed); a view that takes no body
    (not `@reads_body`, GETs included) gets one only if it holds no field."""
    if getattr(decorated, _READS_BODY, False):
        return call()
    refuse_body(_raw_body())
    token = _takes_no_body.set(True)
    try:
        return call()
    finally:
        _takes_no_body.reset(token)


def query() -> Query:
    return Query(current_request().query_params)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def error_response(error: AppError) -> Response:
    return json_response(error_body(error.code, error.message), error.status, error.headers)


def error_middleware(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Every HTTP request passes here: request id, body size limit, and the single place where
    errors become the contract's `{"error": {"code", "message"}}` body."""
    request_id = (event.context or {}).get("requestId") or str(uuid.uuid4())
    log_token = correlation_id.set(request_id)
    request_token = _current_request.set(event)
    try:
        # The access line: the route as declared (`/hooks/slack/{secret}`), never the path that
        # fills it in (ids, webhook secrets), and only what the service says it may log.
        with work("request", request_id=request_id, method=event.method, route=event.path) as line:
            response = _respond(event, get_response, request_id)
            line["status"] = response.status_code
    finally:
        _current_request.reset(request_token)
        correlation_id.reset(log_token)
    response.headers["X-Request-Id"] = request_id
    return response


def _respond(event: Request, get_response: Callable[[Request], Response], request_id: str) -> Response:
    try:
        body = event.raw_body
        if body is not None and len(body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body is larger than the {MAX_BODY_BYTES // 1024} KiB allowed.")
        return _reshape_chalice_error(get_response(event), request_id)
    except AppError as error:
        return error_response(error)
    except Exception:
        log.exception("unexpected error")
        return _internal_error(request_id)


def _reshape_chalice_error(response: Response, request_id: str) -> Response:
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    if response.status_code >= 500:
        return _internal_error(request_id)
    code = _CHALICE_ERROR_CODES.get(response.status_code, "invalid_request")
    message = str(body.get("Message", "The request was refused."))
    if response.status_code == 415:
        message = "Send the body as JSON, with Content-Type: application/json."
    headers = {k: str(v) for k, v in response.headers.items() if k.lower() == "allow"}
    return json_response(error_body(code, message), response.status_code, headers)


def _internal_error(request_id: str) -> Response:
    message = f"Something went wrong on our side. Quote request id {request_id} to support."
    return json_response(error_body("internal_error", message), 500)


def authenticated(*roles: Role, heartbeat: bool = False) -> Callable[[View], View]:
    """Resolves the bearer token into a Principal passed as the view's first argument; with
    roles, the caller must hold one of them (403 otherwise). On every /admin/* route, an app
    session in a domain whose 2FA is on answers 403 `two_factor_required` (API.md §2), decided
    here, from the route, so that no admin route can forget it. Authentication comes before
    any lookup or body check, as the contract's order of checks requires; a view that takes no
    body (not `@reads_body`) is refused any body field here, after the role checks."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = current_request()
            principal = services().auth.authenticate(
                request.headers.get("authorization"), heartbeat=heartbeat
            )
            annotate(domain=principal.domain)
            if roles:
                require_role(principal, roles)
            if _is_administration(request):
                require_admin_session(principal)
            return _run_view(wrapper, lambda: view(principal, *args, **kwargs))

        return cast(View, wrapper)

    return decorate


def _is_administration(request: Request) -> bool:
    """The route (its pattern, as API Gateway names it) is one of /admin/*."""
    return request.path == ADMIN_PREFIX or request.path.startswith(f"{ADMIN_PREFIX}/")


ADMIN_PREFIX = "/admin"


def platform_key_required(view: View) -> View:
    """The operator's routes: X-Platform-Key, compared in constant time, or 401; then, for a
    view that takes no body (not `@reads_body`), any body field is refused."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        services().platform.check_key(current_request().headers.get("x-platform-key"))
        if "domain" in kwargs:  # the operator's routes on one domain name it in their path
            annotate(domain=kwargs["domain"])
        return _run_view(wrapper, lambda: view(*args, **kwargs))

    return cast(View, wrapper)


admin_only = authenticated(Role.ADMIN)
any_user = authenticated()
# The app's two heartbeat calls answer for a disabled device or one that must wipe (API.md §3).
device_heartbeat = authenticated(heartbeat=True)
