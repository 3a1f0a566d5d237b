"""The API on a local port: Chalice's own LocalGateway (the routing and Lambda event shape that
`chalice local` and chalice.test use) under a threaded HTTP server, one thread a connection.

A request for a path no route matches gets the answer that infra/api-gateway-responses.json gives
in AWS: 404 in the contract's error format (Chalice local would answer API Gateway's bare
"Missing Authentication Token" 403)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)


def _compact(body: dict[str, Any]) -> bytes:
    """As Chalice serialises every answer of the app: no spaces after separators."""
    return json.dumps(body, separators=(",", ":")).encode()


NOT_FOUND_BODY = _compact(
    {"error": {"code": "not_found", "message": "No such endpoint; see docs/openapi.yaml."}}
)


class ContractRequestHandler(ChaliceRequestHandler):
    def _send_error_response(self, error: LocalGatewayException) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": str(uuid.uuid4())}
        self._send_http_response(404, headers, NOT_FOUND_BODY)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The HTTP server's own refusals (a method it has no handler for, such as TRACE, or a
        malformed request line) in the contract's body too, as API Gateway would refuse them."""
        if code == 501:
            code, error = 405, "method_not_allowed"
        else:
            error = "invalid_request" if code < 500 else "internal_error"
        body = _compact({"error": {"code": error, "message": message or "The request was refused."}})
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's signature
        print(f"{self.address_string()} {redacted(format % args)}", flush=True)


_QUERY = re.compile(r"\?[^ \"]*")
_HOOK_SECRET = re.compile(r"(/hooks/[a-z]+/)(?!events\b)[^ /?\"]+")


def redacted(line: str) -> str:
    """An access-log line without secrets: a webhook URL's secret, and every query string (an
    invitation's token, an OAuth callback's code and state)."""
    return _HOOK_SECRET.sub(r"\1…", _QUERY.sub("?…", line))


def create_server(app: Chalice, host: str, port: int) -> LocalDevServer:
    """Like chalice.local.create_local_server, with our handler: the app's current_request
    becomes thread-local so that concurrent requests cannot see each other's."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="dev", app_name=app.app_name, lambda_timeout=30)
    return LocalDevServer(
        app,
        config,
        host,
        port,
        handler_cls=ContractRequestHandler,
        server_cls=ThreadedHTTPServer,
    )
