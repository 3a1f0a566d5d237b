"""End to end: a group's Slack integration through `make run`'s runner and its fake Slack
(localdev/fake_slack.py), over real HTTP, as a group admin drives it: create, authorize (the
fake's consent page redirects to our OAuth callback), Slack → group (outgoing webhook, signed
Events API), group → Slack (the relay job, through the queue and the pump).

The fake has one channel, C0FAKE0001, and a channel feeds one group: the module's tests share
one connected integration (the `slack` fixture), in the demo domain, on a group of their own,
and delete it at the end, which frees the channel for anyone after them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import Runner, admin_headers

pytestmark = pytest.mark.e2e

TEAM_ID = "T0FAKE0001"
CHANNEL_ID = "C0FAKE0001"
DISPLAY_NAME = "Slack bridge"
POSTER = "Demo Admin"  # the demo admin's name (localdev/run.py provision_demo)
RELAY_SECONDS = 20.0


@dataclass
class Slack:
    """The shared connected integration, with what the tests need to drive and check it."""

    runner: Runner
    headers: dict[str, str]
    group_id: str
    created: dict[str, Any]  # POST's answer: pending_auth
    connected: dict[str, Any]  # GET's answer after the callback: active
    callback_url: str  # where the fake redirected the browser, with its code and our state
    callback: requests.Response

    @property
    def path(self) -> str:
        return f"/groups/{self.group_id}/integrations/slack"

    @property
    def webhook_url(self) -> str:
        return str(self.created["webhook_url"])

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(
            method, f"{self.runner.url}{path}", json=body, headers=self.headers, timeout=10
        )

    def messages(self) -> list[dict[str, Any]]:
        listed = self.call("GET", f"/groups/{self.group_id}/messages")
        assert listed.status_code == 200, listed.text
        return list(listed.json()["items"])

    def post(self, text: str) -> dict[str, Any]:
        posted = self.call("POST", f"/groups/{self.group_id}/messages", {"text": text})
        assert posted.status_code == 201, posted.text
        return dict(posted.json())


# --- the fake Slack's side --------------------------------------------------------------------------


def fake_url(runner: Runner) -> str:
    return f"http://127.0.0.1:{runner.env['OC_SLACK_PORT']}"


def fake_posts(runner: Runner) -> list[dict[str, str]]:
    answer = requests.get(f"{fake_url(runner)}/_fake/posts", timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def fake_switch(runner: Runner, route: str, **params: int) -> None:
    answer = requests.post(f"{fake_url(runner)}/_fake/{route}", params=params, timeout=10)
    assert answer.status_code == 200, answer.text


def posts_with(runner: Runner, text: str) -> list[dict[str, str]]:
    return [post for post in fake_posts(runner) if post["text"] == text]


def wait_for_post(runner: Runner, text: str) -> dict[str, str]:
    """The fake's post of `text`, once the relay made it (polled for up to RELAY_SECONDS)."""
    deadline = time.monotonic() + RELAY_SECONDS
    while not (found := posts_with(runner, text)):
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} never reached the fake Slack; it has {fake_posts(runner)}")
        time.sleep(0.2)
    return found[0]


def signing_secret(runner: Runner) -> str:
    return (Path(runner.env["OC_RUN_DIR"]) / "slack-signing-secret").read_text().strip()


def send_event(runner: Runner, event: dict[str, Any], **headers: str) -> requests.Response:
    """An Events API event_callback, signed as Slack signs it (v0, over the raw body)."""
    envelope = {
        "token": "one-long-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "authed_teams": [TEAM_ID],
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
    }
    body = json.dumps(envelope).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(
        signing_secret(runner).encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    signed = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        **headers,
    }
    return requests.post(f"{runner.url}/hooks/slack/events", data=body, headers=signed, timeout=10)


def slack_ts() -> str:
    """A fresh Slack message timestamp (seconds.micro-ish): with the channel, it names a message."""
    return f"{time.time():.6f}"


def person_event(text: str, ts: str) -> dict[str, Any]:
    """A message.channels event of a person (tests/fixtures/slack/event_message.json's shape)."""
    return {
        "type": "message",
        "channel": CHANNEL_ID,
        "user": "U123ABC456",
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def webhook_form(text: str, ts: str) -> dict[str, str]:
    """An outgoing webhook's POST (tests/fixtures/slack/outgoing_webhook.txt's fields)."""
    return {
        "token": "XXXXXXXXXXXXXXXXXX",
        "team_id": TEAM_ID,
        "team_domain": "fake",
        "channel_id": CHANNEL_ID,
        "channel_name": "general",
        "timestamp": ts,
        "user_id": "U2147483697",
        "user_name": "Steve",
        "text": text,
        "trigger_word": "bridge:",
    }


def settled(check: Callable[[], bool], seconds: float = 1.5) -> bool:
    """`check` still holds after a short wait (for things that must not happen)."""
    time.sleep(seconds)
    return check()


# --- the shared integration -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def slack(runner: Runner) -> Iterator[Slack]:
    headers = admin_headers(runner)
    group = requests.post(
        f"{runner.url}/groups",
        json={"name": f"Slack e2e {secrets.token_hex(3)}"},
        headers=headers,
        timeout=10,
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    path = f"{runner.url}/groups/{group_id}/integrations/slack"

    created = requests.post(path, json={"display_name": DISPLAY_NAME}, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    # the browser's trip: the fake's consent page "clicks Allow" and redirects to our callback
    callback = requests.get(created.json()["authorize_url"], timeout=10)
    assert callback.history and callback.history[0].status_code == 302, callback.history
    connected = requests.get(path, headers=headers, timeout=10)
    assert connected.status_code == 200, connected.text
    yield Slack(runner, headers, group_id, created.json(), connected.json(), callback.url, callback)
    requests.delete(path, headers=headers, timeout=10)  # frees the fake's one channel (404 if gone)


# --- the tests ------------------------------------------------------------------------------------


def test_create_and_authorize_connect_the_fake_channel(slack: Slack) -> None:
    created = slack.created
    assert created["status"] == "pending_auth"
    assert created["display_name"] == DISPLAY_NAME
    assert created["team_id"] is None and created["channel_id"] is None
    assert created["webhook_url"].startswith(f"{slack.runner.url}/hooks/slack/")
    authorize = urlsplit(created["authorize_url"])
    assert f"{authorize.scheme}://{authorize.netloc}" == fake_url(slack.runner)
    assert authorize.path == "/oauth/v2/authorize"

    callback = urlsplit(slack.callback_url)
    assert (
        f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{slack.runner.url}/oauth/slack/callback"
    )
    assert "code=" in callback.query and "state=" in callback.query
    assert slack.callback.status_code == 200, slack.callback.text
    assert slack.callback.headers["Content-Type"].startswith("text/html")
    assert "Connected to Slack" in slack.callback.text

    connected = slack.connected
    assert connected["id"] == created["id"]
    assert connected["status"] == "active"
    assert (connected["team_id"], connected["channel_id"]) == (TEAM_ID, CHANNEL_ID)
    assert connected["team_name"] == "Fake Slack" and connected["channel_name"] == "#general"
    assert connected["webhook_url"] == created["webhook_url"]  # the same for the integration's life
    assert connected["error"] is None


def test_slack_to_group_and_group_to_slack(slack: Slack) -> None:
    runner = slack.runner
    # Slack → group: the outgoing webhook (Slack's escapes undone: the group shows plain text)
    hooked = requests.post(
        slack.webhook_url, data=webhook_form("bridge: Q&amp;A at &lt;noon&gt;", slack_ts()), timeout=10
    )
    assert hooked.status_code == 200, hooked.text
    assert hooked.json() == {}

    # ... and the Events API, signed; Slack's retry of the same event is dropped
    event = person_event("Live long and prospect.", slack_ts())
    first = send_event(runner, event)
    assert first.status_code == 200, first.text
    again = send_event(runner, event, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert again.status_code == 200, again.text

    # bots' messages are never posted: a classic bot_message, and an app's (our relay's echo)
    bot = {"type": "message", "subtype": "bot_message", "channel": CHANNEL_ID, "ts": slack_ts()}
    bot |= {"text": "Pushing is the answer", "bot_id": "BB12033", "username": "github"}
    assert send_event(runner, bot).status_code == 200
    echo = person_event("Demo Admin: an echo", slack_ts()) | {"bot_id": "B0FAKE", "app_id": "A0FAKE0001"}
    assert send_event(runner, echo).status_code == 200

    inbound = slack.messages()
    assert sorted((m["text"], m["author"]["name"], m["via"]) for m in inbound) == [
        ("Live long and prospect.", DISPLAY_NAME, {"service": "slack", "name": "U123ABC456"}),
        ("bridge: Q&A at <noon>", DISPLAY_NAME, {"service": "slack", "name": "Steve"}),
    ]
    assert {m["author"]["id"] for m in inbound} == {slack.connected["id"]}

    # group → Slack: under the poster's name, in the channel, once
    me = slack.call("GET", "/me").json()
    assert f"{me['first_name']} {me['last_name']}" == POSTER
    text = f"Hello Slack {secrets.token_hex(4)}"
    posted = slack.post(text)
    assert posted["author"]["name"] == POSTER and "via" not in posted
    post = wait_for_post(runner, text)
    assert (post["channel"], post["username"]) == (CHANNEL_ID, POSTER)
    assert post["token"].startswith("xoxb-")
    assert settled(lambda: len(posts_with(runner, text)) == 1), posts_with(runner, text)

    # no echo: what came from Slack never goes back to it
    sent = {p["text"] for p in fake_posts(runner)}
    assert not sent & {m["text"] for m in inbound}
    assert not sent & {"bridge: Q&amp;A at &lt;noon&gt;", "Pushing is the answer", "Demo Admin: an echo"}
    assert len(slack.messages()) == 3


def test_a_rate_limited_post_still_reaches_slack_once(slack: Slack) -> None:
    fake_switch(slack.runner, "rate_limit", times=1, retry_after=1)
    text = f"Through the 429 {secrets.token_hex(4)}"
    slack.post(text)
    post = wait_for_post(slack.runner, text)
    assert (post["channel"], post["username"]) == (CHANNEL_ID, POSTER)
    assert settled(lambda: len(posts_with(slack.runner, text)) == 1), posts_with(slack.runner, text)
    assert "message to Slack retried later" in slack.runner.output()  # the 429 was met, and waited out
    after = slack.call("GET", slack.path).json()
    assert (after["status"], after["error"]) == ("active", None)  # a 429 is not an error


def test_a_replayed_or_denied_callback_changes_nothing(slack: Slack) -> None:
    before = slack.call("GET", slack.path).json()
    replayed = requests.get(slack.callback_url, timeout=10)
    assert replayed.status_code == 400, replayed.text
    assert replayed.headers["Content-Type"].startswith("text/html")
    assert "Connected to Slack" not in replayed.text
    assert "already used" in replayed.text

    # the admin clicks Cancel on the consent page of a fresh authorize URL
    fake_switch(slack.runner, "deny_next")
    denied = requests.get(before["authorize_url"], timeout=10)
    assert denied.status_code == 400, denied.text
    assert "error=access_denied" in denied.url and "denied" in denied.text

    after = slack.call("GET", slack.path).json()
    unchanged = {k: v for k, v in after.items() if k != "authorize_url"}  # a fresh one each time
    assert unchanged == {k: v for k, v in before.items() if k != "authorize_url"}


def test_turning_the_service_off_closes_the_webhook(slack: Slack) -> None:
    runner = slack.runner
    admin = f"{runner.url}/admin/integrations/slack"
    off = requests.put(admin, json={"enabled": False}, headers=slack.headers, timeout=10)
    assert off.status_code == 200, off.text
    try:
        assert off.json()["enabled"] is False
        hooked = requests.post(slack.webhook_url, data=webhook_form("while off", slack_ts()), timeout=10)
        assert hooked.status_code == 404, hooked.text
        assert hooked.json()["error"]["code"] == "webhook_not_found"
        # the Events API still answers 200 (Slack turns off apps whose events fail), posts nothing
        assert send_event(runner, person_event("event while off", slack_ts())).status_code == 200
        assert slack.call("GET", slack.path).json()["error"]["code"] == "service_disabled"
        text = f"Not while off {secrets.token_hex(4)}"
        slack.post(text)
        assert settled(lambda: not posts_with(runner, text)), posts_with(runner, text)
        assert not {"while off", "event while off"} & {m["text"] for m in slack.messages()}
    finally:
        on = requests.put(admin, json={"enabled": True}, headers=slack.headers, timeout=10)
        assert on.status_code == 200, on.text
    # on again: as before
    assert on.json()["enabled"] is True
    hooked = requests.post(slack.webhook_url, data=webhook_form("back on", slack_ts()), timeout=10)
    assert hooked.status_code == 200, hooked.text
    assert slack.call("GET", slack.path).json()["status"] == "active"
    assert "back on" in [m["text"] for m in slack.messages()]


def test_deleting_frees_the_channel_for_another_group(slack: Slack) -> None:
    deleted = slack.call("DELETE", slack.path)
    assert deleted.status_code == 204, deleted.text
    assert (
        requests.post(slack.webhook_url, data=webhook_form("gone", slack_ts()), timeout=10).status_code == 404
    )

    group = slack.call("POST", "/groups", {"name": f"Slack e2e second {secrets.token_hex(3)}"}).json()
    path = f"/groups/{group['id']}/integrations/slack"
    created = slack.call("POST", path, {"display_name": "Second bridge"})
    assert created.status_code == 201, created.text
    try:
        callback = requests.get(created.json()["authorize_url"], timeout=10)
        assert callback.status_code == 200 and "Connected to Slack" in callback.text, callback.text
        connected = slack.call("GET", path).json()
        assert (connected["status"], connected["channel_id"]) == ("active", CHANNEL_ID)
        # the channel's events now feed the second group
        assert send_event(slack.runner, person_event("to the second", slack_ts())).status_code == 200
        listed = slack.call("GET", f"/groups/{group['id']}/messages").json()["items"]
        assert [m["text"] for m in listed] == ["to the second"]
    finally:
        slack.call("DELETE", path)  # the fake's one channel is free again
