"""What the fake outside services (localdev/fake_slack.py, fake_mailchimp.py) share: an HTTP
server in a daemon thread, started and stopped by the fake (or used as a context manager), and the
small replies they answer with. Standard library only."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_reply(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers or {})


def text_reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    return Reply(status, text.encode(), content_type=content_type)


def redirect(location: str) -> Reply:
    return Reply(302, headers={"Location": location})


def with_query(url: str, params: Mapping[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"


class FakeServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], handler: type[FakeHandler], fake: Any) -> None:
        super().__init__(address, handler)
        self.fake = fake


class FakeHandler(BaseHTTPRequestHandler):
    """Reading a request and sending a Reply; the fakes' handlers route."""

    server: FakeServer

    def _path_and_query(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def _body(self) -> bytes | None:
        """The request's body; None when it is over MAX_BODY_BYTES (the caller answers 413)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if self.server.fake.verbose:
            super().log_message(format, *args)


class FakeService:
    """A fake service's server: `start(port)` (0: a free one), `stop()`, `url`."""

    name = "fake service"
    handler: type[FakeHandler] = FakeHandler

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose  # prints requests and what the fake does (the foreground runner)
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int = 0) -> None:
        """Serves on 127.0.0.1:`port` (0: a free one) from a daemon thread."""
        server = FakeServer(("127.0.0.1", port), self.handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one interval for it to notice
            name=self.name.replace(" ", "-"),
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"
