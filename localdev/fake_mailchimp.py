"""A fake MailChimp for tests and `make run`: the OAuth 2 connect (the authorize page redirects
with a one-time code, /oauth2/token trades it for a token, /oauth2/metadata says where the
account's API lives: here, the fake itself), the Marketing API calls our adapter makes (audiences,
an audience's webhooks) and the webhook POSTs MailChimp sends (`fire`), with switches that make it
answer as MailChimp does when things go wrong: 5xx, revoked tokens, refused lists, an admin who
clicks Cancel, a webhook URL that does not answer MailChimp's validating GET.

Standard library only: a ThreadingHTTPServer in a daemon thread. What was registered and called
can be read in the same process (`webhooks`, `calls`) or over HTTP (`GET /_fake/webhooks`,
`GET /_fake/calls`) by tests that drive another process; the `/_fake/...` POST routes flip the
switches and fire events from there too.

    python -m localdev.fake_mailchimp --port 8601 [--client-id X --client-secret Y] [--no-validate-urls]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import signal
import sys
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.client import HTTPException
from types import FrameType
from typing import Any
from urllib.error import HTTPError
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from urllib.request import HTTPRedirectHandler, OpenerDirector, Request, build_opener

from localdev.fake_http import FakeHandler, FakeService, Reply, json_reply, redirect, text_reply, with_query

EVENT_TYPES = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")
SOURCES = ("user", "admin", "api")
DEFAULT_LISTS = (
    ("a1b2c3d4e5", "Newsletter", 1234),
    ("f6g7h8i9j0", "Customers", 56),
    ("k1l2m3n4o5", "Events", 7),
)
DELIVERY_TIMEOUT = 10.0  # MailChimp gives a webhook URL 10 seconds
PROBLEM_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
# What fire() takes (MailchimpEvent's names) and the form field each one is sent as.
FIRE_FIELDS = {
    "fired_at": "fired_at",
    "email": "data[email]",
    "first_name": "data[merges][FNAME]",
    "last_name": "data[merges][LNAME]",
    "reason": "data[reason]",
    "action": "data[action]",
    "campaign_id": "data[campaign_id]",
    "old_email": "data[old_email]",
    "new_email": "data[new_email]",
    "subject": "data[subject]",
    "status": "data[status]",
}


def problem(status: int, title: str, detail: str) -> Reply:
    """The Marketing API's error document (https://mailchimp.com/developer/marketing/docs/errors/);
    `instance` names the request, as MailChimp's do."""
    body = {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": str(uuid.uuid4()),
    }
    return Reply(status, json.dumps(body).encode(), content_type="application/problem+json; charset=utf-8")


def oauth_error(error: str, description: str, status: int = 400) -> Reply:
    return json_reply({"error": error, "error_description": description}, status)


def member_id(email: str) -> str:
    """A stable 10-hex id for an address, shaped like MailChimp's `data[id]`."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:10]


def event_form(kind: str, list_id: str, fields: Mapping[str, str]) -> list[tuple[str, str]]:
    """MailChimp's webhook form for one event, its fields in the order of MailChimp's samples
    (tests/fixtures/mailchimp/); `fields` takes FIRE_FIELDS' names."""
    unknown = sorted(set(fields) - set(FIRE_FIELDS))
    if kind not in EVENT_TYPES or unknown:
        raise ValueError(
            f"unknown event type {kind!r}" if kind not in EVENT_TYPES else f"unknown fields {unknown}"
        )
    value = {name: fields.get(name, "") for name in FIRE_FIELDS}
    fired_at = value["fired_at"] or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    email = value["email"] or "api@mailchimp.com"
    head = [("type", kind), ("fired_at", fired_at)]
    member = [
        ("data[id]", member_id(email)),
        ("data[list_id]", list_id),
        ("data[email]", email),
        ("data[email_type]", "html"),
        ("data[merges][EMAIL]", email),
        ("data[merges][FNAME]", value["first_name"]),
        ("data[merges][LNAME]", value["last_name"]),
        ("data[merges][INTERESTS]", ""),  # the audience's interest groups: none here
        ("data[ip_opt]", "10.20.10.30"),
    ]
    if kind == "subscribe":
        return [*head, *member, ("data[ip_signup]", "10.20.10.30")]
    if kind == "profile":
        return [*head, *member]
    if kind == "unsubscribe":
        action = [("data[action]", value["action"] or "unsub"), ("data[reason]", value["reason"] or "manual")]
        return [*head, *action, *member, ("data[campaign_id]", value["campaign_id"] or "cb398d21d2")]
    if kind == "upemail":
        new_email = value["new_email"] or value["email"] or "api+new@mailchimp.com"
        return [
            *head,
            ("data[list_id]", list_id),
            ("data[new_id]", member_id(new_email)),
            ("data[new_email]", new_email),
            ("data[old_email]", value["old_email"] or "api+old@mailchimp.com"),
        ]
    if kind == "cleaned":
        return [
            *head,
            ("data[list_id]", list_id),
            ("data[campaign_id]", value["campaign_id"] or "4fjk2ma9xd"),
            ("data[reason]", value["reason"] or "hard"),
            ("data[email]", email),
        ]
    return [  # campaign
        *head,
        ("data[id]", value["campaign_id"] or "5aa2102003"),
        ("data[subject]", value["subject"] or "Test Campaign Subject"),
        ("data[status]", value["status"] or "sent"),
        ("data[reason]", value["reason"]),
        ("data[list_id]", list_id),
    ]


def pick(data: Any, paths: Iterable[str]) -> Any:
    """The Marketing API's `fields`: keep only the dotted paths named (into lists of objects too)."""
    if isinstance(data, list):
        return [pick(item, paths) for item in data]
    if not isinstance(data, dict):
        return data
    wanted: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        wanted.setdefault(head, []).append(rest)
    return {
        key: data[key] if "" in rests else pick(data[key], rests)
        for key, rests in wanted.items()
        if key in data
    }


class _NoRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # MailChimp takes a 3xx as the answer


def _opener() -> OpenerDirector:
    return build_opener(_NoRedirects())


@dataclass
class _Grant:
    """A code handed out by the authorize page, until /oauth2/token takes it."""

    redirect_uri: str
    used: bool = False


@dataclass(frozen=True)
class _Webhook:
    id: str
    list_id: str
    url: str
    events: frozenset[str]
    sources: frozenset[str]

    def resource(self, base: str) -> dict[str, Any]:
        """The Marketing API's webhook object."""
        href = f"{base}/3.0/lists/{self.list_id}/webhooks"
        return {
            "id": self.id,
            "url": self.url,
            "events": {kind: kind in self.events for kind in EVENT_TYPES},
            "sources": {source: source in self.sources for source in SOURCES},
            "list_id": self.list_id,
            "_links": [
                {"rel": "self", "href": f"{href}/{self.id}", "method": "GET"},
                {"rel": "parent", "href": href, "method": "GET"},
                {"rel": "delete", "href": f"{href}/{self.id}", "method": "DELETE"},
            ],
        }

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "list_id": self.list_id,
            "url": self.url,
            "events": sorted(self.events),
            "sources": sorted(self.sources),
        }


class FakeMailchimp(FakeService):
    name = "fake MailChimp"

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        lists: Iterable[tuple[str, str, int]] = DEFAULT_LISTS,
        verbose: bool = False,
        validate_urls: bool = False,
    ) -> None:
        self.client_id = client_id or str(secrets.randbelow(10**12))
        self.client_secret = client_secret or secrets.token_hex(32)
        super().__init__(verbose)  # verbose: prints requests, registrations and deliveries
        self.validate_urls = validate_urls  # a GET to a webhook's URL before creating it, as MailChimp
        self.deny_next = False  # the next authorize answers access_denied, as a Cancel click
        self.refuse_lists: set[str] = set()  # creating a webhook on these answers 400 Invalid Resource
        self._lists = {list_id: (name, count) for list_id, name, count in lists}
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}
        self._tokens: set[str] = set()
        self._revoked: set[str] = set()
        self._webhooks: dict[str, _Webhook] = {}
        self._calls: list[dict[str, str]] = []
        self._failures = 0
        self._failure_status = 503

    @property
    def login_url(self) -> str:
        """Where the OAuth endpoints live (MailChimp: https://login.mailchimp.com)."""
        return self.url

    @property
    def api_endpoint(self) -> str:
        """Where the Marketing API lives (MailChimp: https://<dc>.api.mailchimp.com)."""
        return self.url

    # --- switches and inspection ---------------------------------------------------------------

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        """Every registered webhook, oldest first: id, list_id, url, events, sources (sorted)."""
        with self._lock:
            return [hook.view() for hook in self._webhooks.values()]

    @property
    def lists(self) -> list[tuple[str, str, int]]:
        """The audiences: id, name, member count."""
        with self._lock:
            return [(list_id, name, count) for list_id, (name, count) in self._lists.items()]

    def add_list(self, list_id: str, name: str, member_count: int = 0) -> None:
        with self._lock:
            self._lists[list_id] = (name, member_count)

    def add_webhook(
        self,
        list_id: str,
        url: str,
        events: Collection[str] = EVENT_TYPES,
        sources: Collection[str] = SOURCES,
    ) -> str:
        """A webhook someone else registered (by hand, in MailChimp's audience settings): its id."""
        hook = _Webhook(secrets.token_hex(5), list_id, url, frozenset(events), frozenset(sources))
        with self._lock:
            if list_id not in self._lists:
                raise ValueError(f"no audience {list_id!r}")
            self._webhooks[hook.id] = hook
        return hook.id

    @property
    def calls(self) -> list[dict[str, str]]:
        """Every Marketing API call, oldest first: method and path (with its query, as sent)."""
        with self._lock:
            return [dict(call) for call in self._calls]

    def issue_token(self) -> str:
        """A valid access token without going through the connect."""
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens.add(token)
        return token

    def revoke(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def revoke_all(self) -> None:
        """As if every account disconnected the app: every token issued so far stops working."""
        with self._lock:
            self._revoked |= self._tokens

    def fail(self, times: int, status: int = 503) -> None:
        """The next `times` Marketing API calls answer HTTP `status` (a 5xx) with a gateway's page."""
        with self._lock:
            self._failures, self._failure_status = times, status

    # --- MailChimp's side: the connect ---------------------------------------------------------

    def authorize(self, query: Mapping[str, str]) -> Reply:
        """The consent page, as if the admin clicked Allow (or Cancel, after `deny_next`)."""
        if query.get("response_type") != "code":
            return text_reply(400, "response_type must be code")
        if query.get("client_id") != self.client_id:
            return text_reply(400, "Invalid client_id")
        redirect_uri = query.get("redirect_uri")
        if not redirect_uri:
            return text_reply(400, "This fake needs a redirect_uri")
        state = {"state": query["state"]} if "state" in query else {}
        with self._lock:
            denied, self.deny_next = self.deny_next, False
            if denied:
                return redirect(with_query(redirect_uri, {"error": "access_denied", **state}))
            code = secrets.token_hex(16)
            self._grants[code] = _Grant(redirect_uri)
        return redirect(with_query(redirect_uri, {"code": code, **state}))

    def token(self, fields: Mapping[str, str]) -> Reply:
        if fields.get("grant_type") != "authorization_code":
            return oauth_error("unsupported_grant_type", "grant_type must be authorization_code")
        if fields.get("client_id") != self.client_id or fields.get("client_secret") != self.client_secret:
            return oauth_error("invalid_client", "Invalid client_id or client_secret")
        with self._lock:
            grant = self._grants.get(fields.get("code", ""))
            if grant is None or grant.used:
                return oauth_error("invalid_grant", "Invalid authorization code")
            if fields.get("redirect_uri") != grant.redirect_uri:
                return oauth_error("invalid_grant", "redirect_uri does not match the authorization request")
            grant.used = True
        return json_reply({"access_token": self.issue_token(), "expires_in": 0, "scope": None})

    def metadata(self, authorization: str) -> Reply:
        scheme, _, token = authorization.partition(" ")
        if scheme != "OAuth" or not self._valid(token.strip()):
            return json_reply({"error": "invalid_token"}, 401)
        return json_reply(
            {
                "dc": "us1",
                "role": "owner",
                "accountname": "Fake MailChimp",
                "user_id": 1,
                "login": {
                    "email": "owner@example.com",
                    "avatar": None,
                    "login_id": 1,
                    "login_name": "owner",
                    "login_email": "owner@example.com",
                },
                "login_url": self.url,
                "api_endpoint": self.api_endpoint,
            }
        )

    # --- MailChimp's side: the Marketing API ---------------------------------------------------

    def marketing(self, method: str, target: str, body: bytes, authorization: str) -> Reply:
        """A call under /3.0/ (`target`: path and query as sent): recorded, then an injected
        failure, the token, the route."""
        split = urlsplit(target)
        path, query = split.path, dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            self._calls.append({"method": method, "path": target})
            if self._failures > 0:
                self._failures -= 1
                page = f"<html><body><h1>{self._failure_status}</h1>fake MailChimp: injected</body></html>"
                return text_reply(self._failure_status, page, "text/html; charset=utf-8")
        scheme, _, token = authorization.partition(" ")
        if scheme not in ("OAuth", "Bearer") or not self._valid(token.strip()):
            return problem(401, "API Key Invalid", "Your request did not include a valid access token.")
        parts = [unquote(part) for part in path.removeprefix("/3.0/").split("/")]
        if method == "GET" and parts == ["lists"]:
            return self._lists_page(query)
        if len(parts) >= 3 and parts[0] == "lists" and parts[2] == "webhooks":
            with self._lock:
                known = parts[1] in self._lists
            if not known:
                return problem(404, "Resource Not Found", "The requested resource could not be found.")
            if method == "GET" and len(parts) == 3:
                return self._webhook_list(parts[1])
            if method == "POST" and len(parts) == 3:
                return self._create_webhook(parts[1], body)
            if method == "DELETE" and len(parts) == 4:
                return self._delete_webhook(parts[1], parts[3])
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _lists_page(self, query: Mapping[str, str]) -> Reply:
        try:
            count, offset = int(query.get("count", "10")), int(query.get("offset", "0"))
        except ValueError:
            return problem(400, "Invalid Resource", "count and offset must be integers.")
        if not 1 <= count <= 1000 or offset < 0:
            return problem(400, "Invalid Resource", "count must be 1 to 1000, offset 0 or more.")
        with self._lock:
            items = list(self._lists.items())
        page = {
            "lists": [
                {
                    "id": list_id,
                    "web_id": index + 1,
                    "name": name,
                    "stats": {"member_count": member_count, "unsubscribe_count": 0},
                    "visibility": "prv",
                }
                for index, (list_id, (name, member_count)) in enumerate(
                    items[offset : offset + count], offset
                )
            ],
            "total_items": len(items),
        }
        fields = [name for name in query.get("fields", "").split(",") if name]
        return json_reply(pick(page, fields) if fields else page)

    def _webhook_list(self, list_id: str) -> Reply:
        with self._lock:
            hooks = [hook.resource(self.url) for hook in self._webhooks.values() if hook.list_id == list_id]
        return json_reply({"webhooks": hooks, "list_id": list_id, "total_items": len(hooks)})

    def _create_webhook(self, list_id: str, body: bytes) -> Reply:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.")
        url = data.get("url") if isinstance(data, dict) else None
        if list_id in self.refuse_lists:
            return problem(400, "Invalid Resource", "This list cannot take webhooks.")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            return problem(400, "Invalid Resource", "The resource submitted could not be validated.")
        if self.validate_urls and not self._answers_get(url):
            return problem(400, "Invalid Resource", f"The URL {url} did not return a valid response.")
        hook = _Webhook(
            id=secrets.token_hex(5),
            list_id=list_id,
            url=url,
            events=_flags(data.get("events"), EVENT_TYPES),
            sources=_flags(data.get("sources"), SOURCES),
        )
        with self._lock:
            self._webhooks[hook.id] = hook
        if self.verbose:
            print(
                f"fake MailChimp: webhook {hook.id} on {list_id} → {_without_secret(url)} "
                f"({', '.join(sorted(hook.events))})",
                flush=True,
            )
        return json_reply(hook.resource(self.url))

    def _delete_webhook(self, list_id: str, webhook_id: str) -> Reply:
        with self._lock:
            hook = self._webhooks.get(webhook_id)
            if hook is None or hook.list_id != list_id:
                return problem(404, "Resource Not Found", "The requested resource could not be found.")
            del self._webhooks[webhook_id]
        return Reply(204, content_type="application/json; charset=utf-8")

    def _answers_get(self, url: str) -> bool:
        """MailChimp's validator: a GET to the URL must answer 200."""
        request = Request(url, headers={"User-Agent": "MailChimp.com WebHook Validator"})
        try:
            with _opener().open(request, timeout=DELIVERY_TIMEOUT) as response:
                return bool(response.status == 200)
        except (OSError, HTTPException):  # HTTPError (not 2xx), URLError, timeouts, broken answers
            return False

    def _valid(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens and token not in self._revoked

    # --- MailChimp's side: the webhook POSTs ---------------------------------------------------

    def fire(self, list_id: str, type: str, source: str = "user", **fields: str) -> list[int]:  # noqa: A002
        """POSTs MailChimp's form for a `type` event on `list_id` to every webhook of that list
        that takes the type (and, but for campaign events, the source); the HTTP statuses they
        answered, in registration order (0: no answer). `fields` takes MailchimpEvent's names
        (email, first_name, last_name, reason, action, campaign_id, old_email, new_email,
        subject, status, fired_at)."""
        body = urlencode(event_form(type, list_id, fields)).encode()
        with self._lock:
            targets = [
                hook.url
                for hook in self._webhooks.values()
                if hook.list_id == list_id
                and type in hook.events
                and (type == "campaign" or source in hook.sources)
            ]
        statuses = [self._deliver(url, body) for url in targets]
        if self.verbose:
            print(f"fake MailChimp: {type} on {list_id} → {len(targets)} webhook(s): {statuses}", flush=True)
        return statuses

    def _deliver(self, url: str, body: bytes) -> int:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp.com"}
        request = Request(url, data=body, headers=headers, method="POST")
        try:
            with _opener().open(request, timeout=DELIVERY_TIMEOUT) as response:
                return int(response.status)
        except HTTPError as err:
            return err.code
        except (OSError, HTTPException):  # refused, timed out, no HTTP answer
            return 0

    # --- the `/_fake/...` routes ---------------------------------------------------------------

    def control(self, method: str, path: str, query: Mapping[str, str]) -> Reply:
        if method == "GET" and path == "/_fake/webhooks":
            return json_reply(self.webhooks)
        if method == "GET" and path == "/_fake/calls":
            return json_reply(self.calls)
        if method != "POST":
            return text_reply(404, "no such fake route")
        try:
            if path == "/_fake/fire":
                fields = {name: value for name, value in query.items() if name not in ("list_id", "type")}
                return json_reply(
                    {"statuses": self.fire(query.get("list_id", ""), query.get("type", ""), **fields)}
                )
            if path == "/_fake/deny_next":
                self.deny_next = True
            elif path == "/_fake/revoke_all":
                self.revoke_all()
            elif path == "/_fake/revoke" and query.get("token"):
                self.revoke(query["token"])
            elif path == "/_fake/fail":
                self.fail(int(query.get("times", "1")), int(query.get("status", "503")))
            else:
                return text_reply(404, "no such fake route")
        except ValueError as err:  # an unknown type or field; times and status not integers
            return text_reply(400, str(err))
        return json_reply({"ok": True})


def _flags(value: object, names: Collection[str]) -> frozenset[str]:
    if not isinstance(value, dict):
        return frozenset()
    return frozenset(name for name in names if value.get(name) is True)


class _Handler(FakeHandler):
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        body = self._body()
        fake = self.server.fake
        authorization = self.headers.get("Authorization", "")
        if body is None:
            self._send(text_reply(413, "body too large"))
        elif path.startswith("/_fake/"):
            self._send(fake.control(method, path, query))
        elif path.startswith("/3.0/"):
            self._send(fake.marketing(method, self.path, body, authorization))
        elif method == "GET" and path == "/oauth2/authorize":
            self._send(fake.authorize(query))
        elif method == "POST" and path == "/oauth2/token":
            self._send(fake.token(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))))
        elif method == "GET" and path == "/oauth2/metadata":
            self._send(fake.metadata(authorization))
        else:
            self._send(text_reply(404, "not found"))


FakeMailchimp.handler = _Handler  # defined after the fake it routes to


# --- the foreground runner -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.fake_mailchimp", description="A fake MailChimp."
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument(
        "--no-validate-urls",
        dest="validate_urls",
        action="store_false",
        help="create webhooks without MailChimp's validating GET to their URL",
    )
    args = parser.parse_args(argv)
    fake = FakeMailchimp(
        client_id=args.client_id,
        client_secret=args.client_secret,
        verbose=True,
        validate_urls=args.validate_urls,
    )
    try:
        fake.start(args.port)
    except OSError as err:
        raise SystemExit(f"fake MailChimp: cannot listen on port {args.port}: {err.strerror}") from None
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


def _without_secret(url: str) -> str:
    """A receiver URL as the console shows it: its last segment (the webhook's secret) hidden."""
    head, _, _ = url.rstrip("/").rpartition("/")
    return f"{head}/…"


def print_urls(fake: FakeMailchimp) -> None:
    lists = ", ".join(f"{list_id} ({name})" for list_id, name, _ in fake.lists)
    lines = (
        f"fake MailChimp on {fake.url}",
        f"  login url:     {fake.login_url}",
        f"  api endpoint:  {fake.api_endpoint}",
        f"  client id:     {fake.client_id}",
        f"  client secret: {fake.client_secret}",  # the fake's own, made up for this run
        f"  audiences: {lists}",
    )
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
