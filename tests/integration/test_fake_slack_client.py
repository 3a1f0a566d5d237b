"""SlackClient against a started FakeSlack, over real HTTP: the install (authorize redirect, code
exchange), posting, and each way Slack refuses, mapped to the failure kind the relay acts on."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from chalicelib.integrations.slack import SlackApiFailure, SlackClient, authorize_url
from localdev.fake_slack import FakeSlack

REDIRECT_URI = "http://127.0.0.1:8000/admin/integrations/slack/callback?from=test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture
def client(fake: FakeSlack) -> SlackClient:
    return SlackClient(fake.api_url, timeout=2.0)


def request(url: str, method: str = "GET") -> http.client.HTTPResponse:
    """One request, redirects not followed (the admin's browser would follow them)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    connection.request(method, f"{parts.path}?{parts.query}" if parts.query else parts.path)
    return connection.getresponse()


def authorize(
    fake: FakeSlack, redirect_uri: str = REDIRECT_URI, state: str = "st-1", **extra: str
) -> dict[str, str]:
    """The query Slack's consent page sends the browser back with."""
    url = authorize_url(fake.authorize_url, fake.client_id, redirect_uri, state)
    response = request(f"{url}&{'&'.join(f'{k}={v}' for k, v in extra.items())}" if extra else url)
    assert response.status == 302
    location = response.getheader("Location") or ""
    assert location.startswith(redirect_uri)
    return dict(parse_qsl(urlsplit(location).query))


def install(fake: FakeSlack, client: SlackClient) -> str:
    code = authorize(fake)["code"]
    return client.exchange_code(fake.client_id, fake.client_secret, code, REDIRECT_URI).bot_token


def failure_of(call: Any, *args: str) -> SlackApiFailure:
    with pytest.raises(SlackApiFailure) as raised:
        call(*args)
    return raised.value


# --- the install ---------------------------------------------------------------------------------


def test_a_code_from_the_authorize_page_gives_a_grant(fake: FakeSlack, client: SlackClient) -> None:
    answer = authorize(fake)
    assert answer["state"] == "st-1"
    assert answer["from"] == "test"  # the redirect_uri's own query is kept
    grant = client.exchange_code(fake.client_id, fake.client_secret, answer["code"], REDIRECT_URI)
    assert (grant.team_id, grant.team_name, grant.channel_id, grant.channel_name) == (
        "T0FAKE0001",
        "Fake Slack",
        "C0FAKE0001",
        "#general",
    )
    assert grant.bot_token.startswith("xoxb-")
    assert grant.scope == "chat:write,chat:write.customize,incoming-webhook,channels:read"
    assert client.auth_test(grant.bot_token)["team_id"] == "T0FAKE0001"


def test_a_code_works_once(fake: FakeSlack, client: SlackClient) -> None:
    code = authorize(fake)["code"]
    client.exchange_code(fake.client_id, fake.client_secret, code, REDIRECT_URI)
    failure = failure_of(client.exchange_code, fake.client_id, fake.client_secret, code, REDIRECT_URI)
    assert (failure.error, failure.kind) == ("code_already_used", "permanent")


@pytest.mark.parametrize(
    ("wrong", "error"),
    [
        ({"client_id": "1.2"}, "invalid_client_id"),
        ({"client_secret": "nope"}, "bad_client_secret"),
        ({"code": "1.2.3"}, "invalid_code"),
        ({"redirect_uri": "http://127.0.0.1:8000/elsewhere"}, "bad_redirect_uri"),
    ],
)
def test_a_wrong_exchange_is_refused_for_good(
    fake: FakeSlack, client: SlackClient, wrong: dict[str, str], error: str
) -> None:
    exchange = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "redirect_uri": REDIRECT_URI,
    }
    exchange["code"] = authorize(fake)["code"]
    exchange.update(wrong)
    failure = failure_of(lambda: client.exchange_code(**exchange))
    assert (failure.error, failure.kind) == (error, "permanent")


def test_an_admin_who_cancels_comes_back_with_access_denied(fake: FakeSlack) -> None:
    assert authorize(fake, deny="1") == {"from": "test", "error": "access_denied", "state": "st-1"}
    fake.deny_next = True
    assert authorize(fake)["error"] == "access_denied"
    assert "code" in authorize(fake)  # deny_next is for one install only


def test_the_authorize_page_refuses_an_unknown_client_id(fake: FakeSlack) -> None:
    response = request(authorize_url(fake.authorize_url, "999.999", REDIRECT_URI, "s"))
    assert response.status == 400


# --- posting -------------------------------------------------------------------------------------


def test_a_post_is_recorded_with_its_username(fake: FakeSlack, client: SlackClient) -> None:
    token = install(fake, client)
    ts = client.post_message(token, "C0FAKE0001", "Hello from the group", "Ann Lee")
    assert fake.posts == [
        {
            "channel": "C0FAKE0001",
            "text": "Hello from the group",
            "username": "Ann Lee",
            "token": token,
            "ts": ts,
        }
    ]
    assert client.post_message(token, "C0FAKE0001", "again", "Bo") > ts


def test_a_rate_limited_post_says_when_to_retry(fake: FakeSlack, client: SlackClient) -> None:
    token = fake.issue_token()
    fake.rate_limit(2, retry_after=7)
    for _ in range(2):  # no retry inside the client: each call is one 429
        failure = failure_of(client.post_message, token, "C0FAKE0001", "hi", "Ann")
        assert (failure.error, failure.kind, failure.retry_after) == ("ratelimited", "rate_limited", 7.0)
    client.post_message(token, "C0FAKE0001", "hi", "Ann")
    assert len(fake.posts) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_is_transient(fake: FakeSlack, client: SlackClient, status: int) -> None:
    token = fake.issue_token()
    fake.fail(1, status=status)
    failure = failure_of(client.post_message, token, "C0FAKE0001", "hi", "Ann")
    assert (failure.error, failure.kind) == (f"http_{status}", "transient")
    assert fake.posts == []
    client.post_message(token, "C0FAKE0001", "hi", "Ann")


def test_a_revoked_token_is_refused_for_good(fake: FakeSlack, client: SlackClient) -> None:
    token = install(fake, client)
    fake.revoke(token)
    failure = failure_of(client.post_message, token, "C0FAKE0001", "hi", "Ann")
    assert (failure.error, failure.kind) == ("token_revoked", "permanent")
    assert failure_of(client.auth_test, token).error == "token_revoked"


def test_an_unknown_token_is_invalid_auth(client: SlackClient) -> None:
    failure = failure_of(client.post_message, "xoxb-fake-unknown", "C0FAKE0001", "hi", "Ann")
    assert (failure.error, failure.kind) == ("invalid_auth", "permanent")


def test_an_unknown_channel_is_not_found_until_added(fake: FakeSlack, client: SlackClient) -> None:
    token = fake.issue_token()
    failure = failure_of(client.post_message, token, "C0OTHER001", "hi", "Ann")
    assert (failure.error, failure.kind) == ("channel_not_found", "permanent")
    fake.add_channel("C0OTHER001")
    client.post_message(token, "C0OTHER001", "hi", "Ann")
    assert [post["channel"] for post in fake.posts] == ["C0OTHER001"]


def test_an_unreachable_slack_is_transient() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failure = failure_of(SlackClient(f"http://127.0.0.1:{port}/api", timeout=1.0).auth_test, "xoxb-fake-x")
    assert (failure.error, failure.kind) == ("connection_error", "transient")


# --- driving a fake in another process -----------------------------------------------------------


def control(fake: FakeSlack, route: str) -> Any:
    response = request(f"{fake.url}{route}", "POST" if not route.startswith("/_fake/posts") else "GET")
    assert response.status == 200
    return json.loads(response.read())


def test_the_switches_work_over_http(fake: FakeSlack, client: SlackClient) -> None:
    token = fake.issue_token()
    control(fake, "/_fake/rate_limit?times=1&retry_after=3")
    assert failure_of(client.post_message, token, "C0FAKE0001", "hi", "Ann").retry_after == 3.0
    control(fake, "/_fake/fail?times=1&status=502")
    assert failure_of(client.post_message, token, "C0FAKE0001", "hi", "Ann").error == "http_502"
    client.post_message(token, "C0FAKE0001", "hi", "Ann")
    assert control(fake, "/_fake/posts") == fake.posts
    control(fake, "/_fake/deny_next")
    assert authorize(fake)["error"] == "access_denied"
    control(fake, f"/_fake/revoke?token={token}")
    assert failure_of(client.auth_test, token).error == "token_revoked"


def test_the_module_runs_in_the_foreground_and_prints_its_urls() -> None:
    command = [sys.executable, "-m", "localdev.fake_slack", "--port", "0", "--client-id", "11.22"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            lines = [first] + [process.stdout.readline() for _ in range(5)]
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0
    url = first.removeprefix("fake Slack on ").strip()
    assert url.startswith("http://127.0.0.1:")
    assert f"  authorize url: {url}/oauth/v2/authorize\n" in lines
    assert "  client id:     11.22\n" in lines
