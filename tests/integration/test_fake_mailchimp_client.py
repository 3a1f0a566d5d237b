"""MailchimpClient against a started FakeMailchimp, over real HTTP: the connect (authorize
redirect, code exchange, metadata), audiences over pages, an audience's webhooks, each way
MailChimp refuses mapped to the failure kind the caller acts on, and the webhook POSTs the fake
fires, read back by the adapter's own parser."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from chalicelib.integrations.mailchimp import (
    EVENT_TYPES,
    Audience,
    MailchimpApiFailure,
    MailchimpClient,
    authorize_url,
    parse_webhook_event,
)
from localdev.fake_mailchimp import FakeMailchimp

REDIRECT_URI = "http://127.0.0.1:8000/oauth/mailchimp/callback?from=test"
NEWSLETTER = "a1b2c3d4e5"
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mailchimp"


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as running:
        yield running


@pytest.fixture
def client(fake: FakeMailchimp) -> MailchimpClient:
    return MailchimpClient(fake.login_url, timeout=2.0)


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """One request, redirects not followed (the admin's browser would follow them)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    connection.request(
        method, f"{parts.path}?{parts.query}" if parts.query else parts.path, headers=headers or {}
    )
    return connection.getresponse()


def authorize(fake: FakeMailchimp, redirect_uri: str = REDIRECT_URI, state: str = "st-1") -> dict[str, str]:
    """The query MailChimp's consent page sends the browser back with."""
    response = request(authorize_url(fake.login_url, fake.client_id, redirect_uri, state))
    assert response.status == 302
    location = response.getheader("Location") or ""
    assert location.startswith(redirect_uri)
    return dict(parse_qsl(urlsplit(location).query))


def connect(fake: FakeMailchimp, client: MailchimpClient) -> str:
    code = authorize(fake)["code"]
    return client.connect(fake.client_id, fake.client_secret, code, REDIRECT_URI).token


def failure_of(call: Callable[..., object], *args: Any) -> MailchimpApiFailure:
    with pytest.raises(MailchimpApiFailure) as raised:
        call(*args)
    return raised.value


@dataclass
class Receiver:
    """A tiny HTTP server standing in for our webhook route: answers GET and POST with `status`
    and keeps what was POSTed."""

    status: int = 200
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    gets: int = 0
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    received = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.gets += 1
            self._answer()

        def do_POST(self) -> None:
            received.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            received.headers.append(dict(self.headers.items()))
            self._answer()

        def _answer(self) -> None:
            self.send_response(received.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mailchimp/s3cret"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- the connect ---------------------------------------------------------------------------------


def test_a_code_from_the_authorize_page_connects_an_account(
    fake: FakeMailchimp, client: MailchimpClient
) -> None:
    answer = authorize(fake)
    assert answer["state"] == "st-1"
    assert answer["from"] == "test"  # the redirect_uri's own query is kept
    account = client.connect(fake.client_id, fake.client_secret, answer["code"], REDIRECT_URI)
    assert (account.dc, account.api_endpoint, account.account_name, account.login_email) == (
        "us1",
        fake.url,
        "Fake MailChimp",
        "owner@example.com",
    )
    assert account.token not in repr(account)
    assert len(client.audiences(account.token, account.api_endpoint)) == 3


def test_a_code_works_once(fake: FakeMailchimp, client: MailchimpClient) -> None:
    code = authorize(fake)["code"]
    client.connect(fake.client_id, fake.client_secret, code, REDIRECT_URI)
    failure = failure_of(client.connect, fake.client_id, fake.client_secret, code, REDIRECT_URI)
    assert (failure.error, failure.kind, failure.status) == ("invalid_grant", "permanent", 400)
    assert failure.detail == "Invalid authorization code"


@pytest.mark.parametrize(
    ("wrong", "error"),
    [
        ({"client_id": "999"}, "invalid_client"),
        ({"client_secret": "nope"}, "invalid_client"),
        ({"code": "0" * 32}, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:8000/elsewhere"}, "invalid_grant"),
    ],
)
def test_a_wrong_exchange_is_refused_for_good(
    fake: FakeMailchimp, client: MailchimpClient, wrong: dict[str, str], error: str
) -> None:
    exchange = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "redirect_uri": REDIRECT_URI,
    }
    exchange["code"] = authorize(fake)["code"]
    exchange.update(wrong)
    failure = failure_of(lambda: client.connect(**exchange))
    assert (failure.error, failure.kind) == (error, "permanent")
    assert fake.client_secret not in failure.detail


def test_an_admin_who_cancels_comes_back_with_access_denied(fake: FakeMailchimp) -> None:
    fake.deny_next = True
    assert authorize(fake) == {"from": "test", "error": "access_denied", "state": "st-1"}
    assert "code" in authorize(fake)  # deny_next is for one connect only


def test_the_authorize_page_refuses_an_unknown_client_id(fake: FakeMailchimp) -> None:
    response = request(authorize_url(fake.login_url, "999", REDIRECT_URI, "s"))
    assert response.status == 400


def test_the_metadata_wants_the_oauth_scheme_and_a_live_token(fake: FakeMailchimp) -> None:
    token = fake.issue_token()
    assert request(f"{fake.url}/oauth2/metadata", headers={"Authorization": f"OAuth {token}"}).status == 200
    assert request(f"{fake.url}/oauth2/metadata", headers={"Authorization": f"Basic {token}"}).status == 401
    fake.revoke(token)
    response = request(f"{fake.url}/oauth2/metadata", headers={"Authorization": f"OAuth {token}"})
    assert (response.status, json.loads(response.read())) == (401, {"error": "invalid_token"})


# --- audiences -----------------------------------------------------------------------------------


def test_the_audiences_of_an_account(fake: FakeMailchimp, client: MailchimpClient) -> None:
    assert client.audiences(fake.issue_token(), fake.api_endpoint) == [
        Audience("a1b2c3d4e5", "Newsletter", 1234),
        Audience("f6g7h8i9j0", "Customers", 56),
        Audience("k1l2m3n4o5", "Events", 7),
    ]
    fields = "lists.id,lists.name,lists.stats.member_count,total_items"
    assert fake.calls == [{"method": "GET", "path": f"/3.0/lists?count=1000&offset=0&fields={fields}"}]


def test_audiences_are_read_over_every_page() -> None:
    lists = [(f"list{n:06d}", f"Audience {n}", n) for n in range(2345)]
    with FakeMailchimp(lists=lists) as fake:
        client = MailchimpClient(fake.login_url, timeout=2.0)
        audiences = client.audiences(fake.issue_token(), fake.api_endpoint)
        assert [(a.id, a.name, a.member_count) for a in audiences] == lists
        assert [dict(parse_qsl(urlsplit(call["path"]).query))["offset"] for call in fake.calls] == [
            "0",
            "1000",
            "2000",
        ]


def test_an_account_without_audiences_has_none() -> None:
    with FakeMailchimp(lists=[]) as fake:
        client = MailchimpClient(fake.login_url, timeout=2.0)
        assert client.audiences(fake.issue_token(), fake.api_endpoint) == []


def test_the_marketing_api_takes_bearer_too(fake: FakeMailchimp) -> None:
    token = fake.issue_token()
    response = request(f"{fake.url}/3.0/lists?count=1", headers={"Authorization": f"Bearer {token}"})
    page = json.loads(response.read())
    assert (response.status, page["total_items"], len(page["lists"])) == (200, 3, 1)
    assert page["lists"][0]["web_id"] == 1  # without `fields`, the whole object


# --- webhooks ------------------------------------------------------------------------------------


def test_a_webhook_is_created_listed_and_deleted(
    fake: FakeMailchimp, client: MailchimpClient, receiver: Receiver
) -> None:
    token = connect(fake, client)
    hook = client.create_webhook(token, fake.api_endpoint, NEWSLETTER, receiver.url, ["subscribe", "cleaned"])
    assert (hook.list_id, hook.url, hook.events, hook.sources) == (
        NEWSLETTER,
        receiver.url,
        frozenset({"subscribe", "cleaned"}),
        frozenset({"user", "admin", "api"}),
    )
    assert client.webhooks(token, fake.api_endpoint, NEWSLETTER) == [hook]
    assert client.webhooks(token, fake.api_endpoint, "f6g7h8i9j0") == []
    assert fake.webhooks == [
        {
            "id": hook.id,
            "list_id": NEWSLETTER,
            "url": receiver.url,
            "events": ["cleaned", "subscribe"],
            "sources": ["admin", "api", "user"],
        }
    ]
    client.delete_webhook(token, fake.api_endpoint, NEWSLETTER, hook.id)
    assert client.webhooks(token, fake.api_endpoint, NEWSLETTER) == []
    client.delete_webhook(token, fake.api_endpoint, NEWSLETTER, hook.id)  # already gone: fine
    assert receiver.gets == 0  # validate_urls is off by default


def test_webhooks_and_audiences_made_elsewhere_show(fake: FakeMailchimp, client: MailchimpClient) -> None:
    token = fake.issue_token()
    fake.add_list("p9q8r7s6t5", "Partners", 3)
    other = fake.add_webhook("p9q8r7s6t5", "https://elsewhere.example/hook", ["campaign"])
    assert client.audiences(token, fake.api_endpoint)[-1] == Audience("p9q8r7s6t5", "Partners", 3)
    [hook] = client.webhooks(token, fake.api_endpoint, "p9q8r7s6t5")
    assert (hook.id, hook.url, hook.events, hook.sources) == (
        other,
        "https://elsewhere.example/hook",
        frozenset({"campaign"}),
        frozenset({"user", "admin", "api"}),
    )
    with pytest.raises(ValueError, match="no audience"):
        fake.add_webhook("zzzzzzzzzz", "https://elsewhere.example/hook")


def test_unknown_event_types_are_a_programming_error(fake: FakeMailchimp, client: MailchimpClient) -> None:
    with pytest.raises(ValueError, match="unknown MailChimp event types: pending"):
        client.create_webhook(fake.issue_token(), fake.api_endpoint, NEWSLETTER, "http://x/", ["pending"])
    assert fake.calls == []


def test_a_webhook_on_an_unknown_audience_is_not_found(fake: FakeMailchimp, client: MailchimpClient) -> None:
    token = fake.issue_token()
    failure = failure_of(
        client.create_webhook, token, fake.api_endpoint, "zzzzzzzzzz", "http://x/", EVENT_TYPES
    )
    assert (failure.error, failure.kind, failure.status) == ("resource_not_found", "permanent", 404)
    assert failure_of(client.webhooks, token, fake.api_endpoint, "zzzzzzzzzz").error == "resource_not_found"


def test_ids_are_quoted_into_the_path(fake: FakeMailchimp, client: MailchimpClient) -> None:
    token = fake.issue_token()
    failure = failure_of(client.webhooks, token, fake.api_endpoint, "../lists?x=1")
    assert failure.error == "resource_not_found"
    client.delete_webhook(token, fake.api_endpoint, NEWSLETTER, "a/b")
    assert [call["path"] for call in fake.calls] == [
        "/3.0/lists/..%2Flists%3Fx%3D1/webhooks",
        f"/3.0/lists/{NEWSLETTER}/webhooks/a%2Fb",
    ]


def test_a_refused_audience_is_refused_for_good_with_mailchimps_detail(
    fake: FakeMailchimp, client: MailchimpClient
) -> None:
    fake.refuse_lists.add(NEWSLETTER)
    failure = failure_of(
        client.create_webhook, fake.issue_token(), fake.api_endpoint, NEWSLETTER, "http://x/", EVENT_TYPES
    )
    assert (failure.error, failure.kind, failure.status) == ("invalid_resource", "permanent", 400)
    assert failure.detail == "This list cannot take webhooks."


def test_mailchimp_checks_the_url_with_a_get_first(receiver: Receiver) -> None:
    with FakeMailchimp(validate_urls=True) as fake:
        token = fake.issue_token()
        client = MailchimpClient(fake.login_url, timeout=2.0)
        client.create_webhook(token, fake.api_endpoint, NEWSLETTER, receiver.url, ["subscribe"])
        assert receiver.gets == 1
        receiver.status = 404
        failure = failure_of(
            client.create_webhook, token, fake.api_endpoint, NEWSLETTER, receiver.url + "x", ["subscribe"]
        )
        assert (failure.error, failure.kind) == ("invalid_resource", "permanent")
        assert failure.detail == f"The URL {receiver.url}x did not return a valid response."
        assert len(fake.webhooks) == 1


# --- refusals ------------------------------------------------------------------------------------


def test_a_revoked_token_is_rejected_for_good(fake: FakeMailchimp, client: MailchimpClient) -> None:
    token = connect(fake, client)
    fake.revoke(token)
    failure = failure_of(client.audiences, token, fake.api_endpoint)
    assert (failure.error, failure.kind, failure.status) == ("token_rejected", "permanent", 401)
    assert token not in str(failure) and token not in failure.detail
    assert (
        failure_of(client.delete_webhook, token, fake.api_endpoint, NEWSLETTER, "w1").error
        == "token_rejected"
    )


def test_an_unknown_token_is_rejected(fake: FakeMailchimp, client: MailchimpClient) -> None:
    failure = failure_of(client.webhooks, "0" * 32, fake.api_endpoint, NEWSLETTER)
    assert (failure.error, failure.kind) == ("token_rejected", "permanent")


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_transient(fake: FakeMailchimp, client: MailchimpClient, status: int) -> None:
    token = fake.issue_token()
    fake.fail(1, status=status)
    failure = failure_of(client.audiences, token, fake.api_endpoint)
    assert (failure.error, failure.kind, failure.status) == (f"http_{status}", "transient", status)
    assert len(client.audiences(token, fake.api_endpoint)) == 3


def test_an_unreachable_mailchimp_is_transient() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MailchimpClient(f"http://127.0.0.1:{port}", timeout=1.0)
    failure = failure_of(client.audiences, "t", f"http://127.0.0.1:{port}")
    assert (failure.error, failure.kind, failure.status) == ("connection_error", "transient", None)
    assert failure_of(client.connect, "id", "secret", "code", REDIRECT_URI).kind == "transient"


def test_a_silent_mailchimp_times_out() -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        failure = failure_of(MailchimpClient(url, timeout=0.3).audiences, "t", url)
    assert (failure.error, failure.kind) == ("timeout", "transient")


@pytest.mark.parametrize(
    "endpoint",
    ["", "us1.api.mailchimp.com", "file:///etc/passwd", "ftp://us1.api.mailchimp.com", "https://x/3.0"],
)
def test_an_api_endpoint_that_is_not_an_http_url_is_refused(client: MailchimpClient, endpoint: str) -> None:
    failure = failure_of(client.audiences, "t", endpoint)
    assert (failure.error, failure.kind) == ("invalid_response", "permanent")


@contextmanager
def odd_server(status: int, body: bytes, headers: dict[str, str] | None = None) -> Iterator[str]:
    """A server that answers every request with `body`; `{auth}` in it becomes the request's
    Authorization header (a server that quotes the token back)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = body.replace(b"{auth}", self.headers.get("Authorization", "").encode())
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def call_odd_server(status: int, body: bytes, headers: dict[str, str] | None = None) -> MailchimpApiFailure:
    with odd_server(status, body, headers) as url:
        return failure_of(MailchimpClient(url, timeout=2.0).audiences, "tok-SECRET-123", url)


def test_a_detail_that_quotes_the_token_is_scrubbed() -> None:
    failure = call_odd_server(400, b'{"title": "Invalid Resource", "detail": "Bad header: {auth}"}')
    assert failure.error == "invalid_resource"
    assert failure.detail == "Bad header: OAuth [redacted]"


def test_a_429_says_when_to_retry() -> None:
    failure = call_odd_server(
        429, b'{"title": "Too Many Requests", "detail": "Slow down."}', {"Retry-After": "7"}
    )
    assert (failure.error, failure.kind, failure.retry_after) == ("too_many_requests", "rate_limited", 7.0)


def test_a_redirect_is_not_followed() -> None:
    failure = call_odd_server(302, b"", {"Location": "http://127.0.0.1:9/steal"})
    assert (failure.error, failure.kind, failure.status) == ("http_302", "permanent", 302)


@pytest.mark.parametrize(
    "body",
    [b"<html>ok</html>", b"[]", b'{"lists": "no"}', b'{"lists": [{"id": 1}], "total_items": 1}'],
)
def test_an_answer_we_cannot_read_is_invalid(body: bytes) -> None:
    failure = call_odd_server(200, body)
    assert (failure.error, failure.kind) == ("invalid_response", "permanent")


# --- the webhook POSTs ---------------------------------------------------------------------------


def register(fake: FakeMailchimp, receiver: Receiver, events: list[str], list_id: str = NEWSLETTER) -> None:
    client = MailchimpClient(fake.login_url, timeout=2.0)
    client.create_webhook(fake.issue_token(), fake.api_endpoint, list_id, receiver.url, events)


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_fire_posts_the_fixtures_shape(fake: FakeMailchimp, receiver: Receiver, kind: str) -> None:
    register(fake, receiver, [kind])
    assert fake.fire(NEWSLETTER, kind) == [200]
    [body] = receiver.bodies
    fixture_keys = [
        key for key, _ in parse_qsl((FIXTURES / f"{kind}.txt").read_text(), keep_blank_values=True)
    ]
    assert [key for key, _ in parse_qsl(body.decode(), keep_blank_values=True)] == fixture_keys
    assert b"data%5Blist_id%5D=" + NEWSLETTER.encode() in body  # encoded as MailChimp does
    assert receiver.headers[0]["Content-Type"] == "application/x-www-form-urlencoded"
    assert receiver.headers[0]["User-Agent"] == "MailChimp.com"
    event = parse_webhook_event(body)
    assert (event.type, event.list_id) == (kind, NEWSLETTER)


def test_fired_fields_reach_the_parser(fake: FakeMailchimp, receiver: Receiver) -> None:
    register(fake, receiver, ["subscribe", "unsubscribe"])
    fake.fire(NEWSLETTER, "subscribe", email="jane@example.com", first_name="Jane", last_name="Doe")
    fake.fire(
        NEWSLETTER, "unsubscribe", email="jane@example.com", reason="abuse", fired_at="2024-05-01 10:00:00"
    )
    subscribed, unsubscribed = (parse_webhook_event(body) for body in receiver.bodies)
    assert (subscribed.email, subscribed.first_name, subscribed.last_name) == (
        "jane@example.com",
        "Jane",
        "Doe",
    )
    assert (unsubscribed.reason, unsubscribed.fired_at, unsubscribed.action) == (
        "abuse",
        "2024-05-01 10:00:00",
        "unsub",
    )


def test_fire_reaches_only_the_webhooks_that_take_the_event(fake: FakeMailchimp, receiver: Receiver) -> None:
    register(fake, receiver, ["subscribe"])
    register(fake, receiver, ["subscribe"], list_id="f6g7h8i9j0")
    assert fake.fire(NEWSLETTER, "campaign") == []
    assert fake.fire("k1l2m3n4o5", "subscribe") == []
    assert fake.fire(NEWSLETTER, "subscribe") == [200]
    receiver.status = 500
    assert fake.fire(NEWSLETTER, "subscribe") == [500]
    assert len(receiver.bodies) == 2


def test_fire_refuses_what_mailchimp_never_sends(fake: FakeMailchimp) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        fake.fire(NEWSLETTER, "pending")
    with pytest.raises(ValueError, match="unknown fields"):
        fake.fire(NEWSLETTER, "subscribe", mail="x@example.com")


# --- driving a fake in another process -----------------------------------------------------------


def control(fake: FakeMailchimp, route: str, method: str = "POST") -> Any:
    response = request(f"{fake.url}{route}", method)
    assert response.status == 200
    return json.loads(response.read())


def test_the_control_routes_work_over_http(
    fake: FakeMailchimp, client: MailchimpClient, receiver: Receiver
) -> None:
    token = connect(fake, client)
    hook = client.create_webhook(token, fake.api_endpoint, NEWSLETTER, receiver.url, ["subscribe"])
    assert control(fake, "/_fake/webhooks", "GET") == fake.webhooks
    assert [call["method"] for call in control(fake, "/_fake/calls", "GET")] == ["POST"]
    fired = control(fake, f"/_fake/fire?list_id={NEWSLETTER}&type=subscribe&email=ann%40example.com")
    assert fired == {"statuses": [200]}
    assert parse_webhook_event(receiver.bodies[0]).email == "ann@example.com"
    assert request(f"{fake.url}/_fake/fire?list_id={NEWSLETTER}&type=nope", "POST").status == 400
    control(fake, "/_fake/fail?times=1&status=502")
    assert failure_of(client.webhooks, token, fake.api_endpoint, NEWSLETTER).error == "http_502"
    control(fake, "/_fake/deny_next")
    assert authorize(fake)["error"] == "access_denied"
    control(fake, "/_fake/revoke_all")
    assert (
        failure_of(client.delete_webhook, token, fake.api_endpoint, NEWSLETTER, hook.id).error
        == "token_rejected"
    )


def test_the_module_runs_in_the_foreground_and_prints_its_urls() -> None:
    command = [sys.executable, "-m", "localdev.fake_mailchimp", "--port", "0", "--client-id", "1122"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            lines = [first] + [process.stdout.readline() for _ in range(5)]
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0
    url = first.removeprefix("fake MailChimp on ").strip()
    assert url.startswith("http://127.0.0.1:")
    assert f"  api endpoint:  {url}\n" in lines
    assert "  client id:     1122\n" in lines
