"""A fake Slack for tests and `make run`: the OAuth v2 install (the authorize page redirects with a
one-time code, oauth.v2.access trades it for a bot token), chat.postMessage and auth.test, with
switches that make it answer as Slack does when things go wrong: 429 with Retry-After, 5xx,
revoked tokens, unknown channels, an admin who clicks Cancel.

Standard library only: a ThreadingHTTPServer in a daemon thread. What was posted can be read in
the same process (`posts`) or over HTTP (`GET /_fake/posts`) by tests that drive another process;
the `/_fake/...` POST routes flip the switches from there too.

    python -m localdev.fake_slack --port 8600 [--client-id X --client-secret Y]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any
from urllib.parse import parse_qsl

from localdev.fake_http import FakeHandler, FakeService, Reply, json_reply, redirect, text_reply, with_query

APP_ID = "A0FAKE0001"
BOT_ID = "B0FAKE"
BOT_USER_ID = "U0FAKEBOT1"
INSTALLER_USER_ID = "U0FAKEUSR1"


def slack_error(error: str) -> Reply:
    """Slack answers a refused call with HTTP 200 and `ok: false`."""
    return json_reply({"ok": False, "error": error})


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class _Grant:
    """A code handed out by the authorize page, until oauth.v2.access takes it."""

    redirect_uri: str
    scope: str
    used: bool = False


@dataclass
class _Faults:
    """Answers to give instead of the real one, for the next calls of chat.postMessage."""

    rate_limited: int = 0
    retry_after: int = 1
    failures: int = 0
    failure_status: int = 500


class FakeSlack(FakeService):
    name = "fake Slack"

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        team_id: str = "T0FAKE0001",
        team_name: str = "Fake Slack",
        channel_id: str = "C0FAKE0001",
        channel_name: str = "#general",
        verbose: bool = False,
    ) -> None:
        self.client_id = client_id or f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}"
        self.client_secret = client_secret or secrets.token_hex(16)
        self.team_id = team_id
        self.team_name = team_name
        self.channel_id = channel_id
        self.channel_name = channel_name
        super().__init__(verbose)
        self.deny_next = False  # the next authorize answers access_denied, as a Cancel click
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._tokens: set[str] = set()
        self._revoked: set[str] = set()
        self._channels = {channel_id}
        self._posts: list[dict[str, str]] = []
        self._faults = _Faults()
        self._messages_sent = 0

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/oauth/v2/authorize"

    # --- switches and inspection ---------------------------------------------------------------

    @property
    def posts(self) -> list[dict[str, str]]:
        """What chat.postMessage accepted, oldest first: channel, text, username, token, ts."""
        with self._lock:
            return [dict(post) for post in self._posts]

    def issue_token(self) -> str:
        """A valid bot token without going through the install."""
        token = f"xoxb-fake-{secrets.token_hex(16)}"
        with self._lock:
            self._tokens.add(token)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def add_channel(self, channel_id: str) -> None:
        with self._lock:
            self._channels.add(channel_id)

    def rate_limit(self, times: int, retry_after: int = 1) -> None:
        """The next `times` chat.postMessage calls answer 429 with `Retry-After: retry_after`."""
        with self._lock:
            self._faults.rate_limited, self._faults.retry_after = times, retry_after

    def fail(self, times: int, status: int = 500) -> None:
        """The next `times` chat.postMessage calls answer HTTP `status` (a 5xx) with no JSON."""
        with self._lock:
            self._faults.failures, self._faults.failure_status = times, status

    # --- Slack's side --------------------------------------------------------------------------

    def authorize(self, query: Mapping[str, str]) -> Reply:
        """The consent page, as if the admin clicked Allow (or Cancel, with `deny=1`)."""
        if query.get("client_id") != self.client_id:
            return text_reply(400, "Invalid client_id parameter")
        redirect_uri = query.get("redirect_uri")
        if not redirect_uri:
            return text_reply(400, "This fake needs a redirect_uri")
        state = {"state": query["state"]} if "state" in query else {}
        with self._lock:
            denied, self.deny_next = self.deny_next or query.get("deny") == "1", False
            if denied:
                return redirect(with_query(redirect_uri, {"error": "access_denied", **state}))
            code = f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(32)}"
            self._grants[code] = _Grant(redirect_uri, query.get("scope", ""))
        return redirect(with_query(redirect_uri, {"code": code, **state}))

    def oauth_access(self, fields: Mapping[str, str], basic: tuple[str, str] | None) -> Reply:
        client_id, client_secret = basic or (fields.get("client_id"), fields.get("client_secret"))
        if client_id != self.client_id:
            return slack_error("invalid_client_id")
        if client_secret != self.client_secret:
            return slack_error("bad_client_secret")
        with self._lock:
            grant = self._grants.get(fields.get("code", ""))
            if grant is None:
                return slack_error("invalid_code")
            if grant.used:
                return slack_error("code_already_used")
            if fields.get("redirect_uri") != grant.redirect_uri:
                return slack_error("bad_redirect_uri")
            grant.used = True
        return json_reply(self._access_answer(self.issue_token(), grant.scope))

    def _access_answer(self, token: str, scope: str) -> dict[str, Any]:
        """oauth.v2.access's answer for a bot install (https://api.slack.com/methods/oauth.v2.access)."""
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": INSTALLER_USER_ID},
            "scope": scope,
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": BOT_USER_ID,
            "team": {"id": self.team_id, "name": self.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if "incoming-webhook" in scope.split(","):  # the admin picked a channel on the consent page
            answer["incoming_webhook"] = {
                "channel": self.channel_name,
                "channel_id": self.channel_id,
                "configuration_url": f"{self.url}/services/{BOT_ID}",
                "url": f"{self.url}/services/{self.team_id}/{BOT_ID}/{secrets.token_hex(12)}",
            }
        return answer

    def post_message(self, token: str | None, fields: Mapping[str, str]) -> Reply:
        with self._lock:
            fault = self._take_fault()
            if fault is not None:
                return fault
            refusal = self._token_refusal(token) or self._message_refusal(fields)
            if refusal is not None:
                return slack_error(refusal)
            self._messages_sent += 1
            ts = f"{int(time.time())}.{self._messages_sent:06d}"
            post = {
                "channel": fields["channel"],
                "text": fields.get("text", ""),
                "username": fields.get("username", ""),
                "token": token or "",
                "ts": ts,
            }
            self._posts.append(post)
        if self.verbose:
            print(f"fake Slack: {post['username']!r} in {post['channel']}: {post['text']}", flush=True)
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": post["text"],
            "username": post["username"],
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "ts": ts,
        }
        return json_reply({"ok": True, "channel": post["channel"], "ts": ts, "message": message})

    def conversations_info(self, token: str | None, fields: Mapping[str, str]) -> Reply:
        """A channel the fake knows: its own (named after channel_name) or one added."""
        with self._lock:
            refusal = self._token_refusal(token)
            channel = fields.get("channel", "")
            known = channel in self._channels
        if refusal is not None:
            return slack_error(refusal)
        if not known:
            return slack_error("channel_not_found")
        name = self.channel_name.lstrip("#") if channel == self.channel_id else f"channel-{channel.lower()}"
        return json_reply({"ok": True, "channel": {"id": channel, "name": name, "is_channel": True}})

    def auth_test(self, token: str | None) -> Reply:
        with self._lock:
            refusal = self._token_refusal(token)
        if refusal is not None:
            return slack_error(refusal)
        return json_reply(
            {
                "ok": True,
                "url": f"{self.url}/",
                "team": self.team_name,
                "user": "office-chat",
                "team_id": self.team_id,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        )

    def _take_fault(self) -> Reply | None:
        faults = self._faults
        if faults.rate_limited > 0:
            faults.rate_limited -= 1
            headers = {"Retry-After": str(faults.retry_after)}
            return json_reply({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
        if faults.failures > 0:
            faults.failures -= 1
            return text_reply(faults.failure_status, "fake Slack: injected failure")
        return None

    def _token_refusal(self, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token in self._revoked:
            return "token_revoked"
        return None if token in self._tokens else "invalid_auth"

    def _message_refusal(self, fields: Mapping[str, str]) -> str | None:
        # Channel ids only: Slack also takes a name, but our code must post by id.
        if fields.get("channel") not in self._channels:
            return "channel_not_found"
        return None if fields.get("text") else "no_text"

    # --- the `/_fake/...` routes ---------------------------------------------------------------

    def control(self, path: str, query: Mapping[str, str]) -> Reply:
        try:
            if path == "/_fake/rate_limit":
                self.rate_limit(int(query.get("times", "1")), int(query.get("retry_after", "1")))
            elif path == "/_fake/fail":
                self.fail(int(query.get("times", "1")), int(query.get("status", "500")))
            elif path == "/_fake/deny_next":
                self.deny_next = True
            elif path == "/_fake/revoke" and query.get("token"):
                self.revoke(query["token"])
            else:
                return text_reply(404, "no such fake route")
        except ValueError:
            return text_reply(400, "times, retry_after and status are integers")
        return json_reply({"ok": True})


class _Handler(FakeHandler):
    def do_GET(self) -> None:
        path, query = self._path_and_query()
        fake = self.server.fake
        if path == "/oauth/v2/authorize":
            self._send(fake.authorize(query))
        elif path == "/_fake/posts":
            self._send(json_reply(fake.posts))
        elif path.startswith("/api/"):  # slack_sdk reads some methods with GET (conversations.info)
            self._send(self._api_call(path.removeprefix("/api/"), query, b""))
        else:
            self._send(text_reply(404, "not found"))

    def do_POST(self) -> None:
        path, query = self._path_and_query()
        body = self._body()
        if body is None:
            self._send(text_reply(413, "body too large"))
        elif path.startswith("/_fake/"):
            self._send(self.server.fake.control(path, query))
        elif path.startswith("/api/"):
            self._send(self._api_call(path.removeprefix("/api/"), query, body))
        else:
            self._send(text_reply(404, "not found"))

    def _api_call(self, method: str, query: Mapping[str, str], body: bytes) -> Reply:
        from_body = self._fields(body)
        if from_body is None:
            return slack_error("invalid_json")
        fields = {**query, **from_body}  # Slack takes arguments in the query string too
        fake = self.server.fake
        calls: dict[str, Callable[[], Reply]] = {
            "oauth.v2.access": lambda: fake.oauth_access(fields, self._basic_auth()),
            "chat.postMessage": lambda: fake.post_message(self._bearer() or fields.get("token"), fields),
            "auth.test": lambda: fake.auth_test(self._bearer() or fields.get("token")),
            "conversations.info": lambda: fake.conversations_info(
                self._bearer() or fields.get("token"), fields
            ),
        }
        call = calls.get(method)
        return call() if call is not None else slack_error("unknown_method")

    def _fields(self, body: bytes) -> dict[str, str] | None:
        """The call's arguments, from a JSON body (as slack_sdk sends chat.postMessage) or a form."""
        if self.headers.get("Content-Type", "").startswith("application/json"):
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            return {name: _as_text(value) for name, value in data.items()}
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def _bearer(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None

    def _basic_auth(self) -> tuple[str, str] | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return client_id, secret


FakeSlack.handler = _Handler  # defined after the fake it routes to


# --- the foreground runner -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localdev.fake_slack", description="A fake Slack.")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    args = parser.parse_args(argv)
    fake = FakeSlack(client_id=args.client_id, client_secret=args.client_secret, verbose=True)
    try:
        fake.start(args.port)
    except OSError as err:
        raise SystemExit(f"fake Slack: cannot listen on port {args.port}: {err.strerror}") from None
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    print_urls(fake)
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()


def print_urls(fake: FakeSlack) -> None:
    lines = (
        f"fake Slack on {fake.url}",
        f"  api url:       {fake.api_url}",
        f"  authorize url: {fake.authorize_url}",
        f"  client id:     {fake.client_id}",
        f"  client secret: {fake.client_secret}",  # the fake's own, made up for this run
        f"  team {fake.team_id} ({fake.team_name}), channel {fake.channel_id} ({fake.channel_name})",
    )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
