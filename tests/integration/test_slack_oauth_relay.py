"""§6 "Authenticate with Slack" and group → Slack, against the fake Slack over real HTTP: the
OAuth callback (state signed, expiring, single-use; denial; Slack's refusal), the bot token
encrypted at rest, and the relay job (once per message, 429 Retry-After, backoff, permanent
errors, no echo of Slack's own messages, the service switch)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from chalicelib.core import aws
from chalicelib.domain.integrations import Service
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.jobs import JobQueue
from localdev.fake_slack import FakeSlack
from tests.conftest import Api, error_of
from tests.integration.slack_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    fixture_json,
    fixture_text,
    group_texts,
    send_event,
    send_outgoing,
    slack_group,
    use_slack_app,
    webhook_path,
)
from tests.integration.tenancy_content import create_group, post

JOBS_QUEUE = "office-chat-jobs"


@pytest.fixture
def fake(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as running:
        use_slack_app(monkeypatch, running.api_url)
        yield running


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], int]]:
    """Every job message sent, with its delay (and still sent to the queue)."""
    calls: list[tuple[dict[str, Any], int]] = []
    original = JobQueue.send

    def recording(self: JobQueue, message: dict[str, Any], delay_seconds: int = 0) -> None:
        calls.append((message, delay_seconds))
        original(self, message, 0)  # undelayed: the test delivers it at once

    monkeypatch.setattr(JobQueue, "send", recording)
    return calls


def authorize(api: Api, fake: FakeSlack, authorize_url: str, deny: bool = False) -> Any:
    """The admin's browser: Slack's authorize page (the fake answers with its redirect at once),
    then our callback with Slack's code and the state."""
    fake.deny_next = deny
    parts = urlsplit(authorize_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.request("GET", f"{parts.path}?{parts.query}")
    answer = connection.getresponse()
    assert answer.status == 302, answer.read()
    location = urlsplit(answer.getheader("Location") or "")
    connection.close()
    return api.client.http.get(f"{location.path}?{location.query}")


def connected_group(api: Api, fake: FakeSlack, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    group, integration = slack_group(api, token, "Slack bridge")
    page = authorize(api, fake, integration["authorize_url"])
    assert page.status_code == 200, page.body
    return group, integration


def drain(client: Any, times: int = 2) -> int:
    """Lambda's SQS event source: each job message to on_job (twice: at least once)."""
    url = aws.sqs().get_queue_url(QueueName=JOBS_QUEUE)["QueueUrl"]
    delivered = 0
    while True:
        messages = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return delivered
        event = client.events.generate_sqs_event(message_bodies=[messages[0]["Body"]], queue_name=JOBS_QUEUE)
        for _ in range(times):
            client.lambda_.invoke("on_job", event)
        aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        delivered += 1


def integration_item(domain: str, group_id: str) -> dict[str, Any]:
    item = Table().get(keys.group_pk(domain, group_id), keys.integration_sk(Service.SLACK))
    assert item is not None
    return item


# --- authorize -------------------------------------------------------------------------------------


def test_authorizing_connects_the_group_and_keeps_the_token_encrypted(api: Api, fake: FakeSlack) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token, "Slack bridge")
    page = authorize(api, fake, integration["authorize_url"])
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Connected to Slack" in page.body.decode() and "#general" in page.body.decode()
    read = api.call("GET", f"/groups/{group['id']}/integrations/slack", token=token).json_body
    assert read["status"] == "active" and read["error"] is None
    assert (read["team_id"], read["team_name"]) == (fake.team_id, fake.team_name)
    assert (read["channel_id"], read["channel_name"]) == (fake.channel_id, "#general")
    stored = integration_item("acme", group["id"])
    assert isinstance(stored["token"], bytes) and b"xoxb" not in stored["token"]
    assert "xoxb" not in json.dumps(read)


def test_a_replayed_state_changes_nothing(api: Api, fake: FakeSlack) -> None:
    token = api.admin_token()
    group, integration = connected_group(api, fake, token)
    before = integration_item("acme", group["id"])
    again = authorize(api, fake, integration["authorize_url"])  # the same state, a new code
    assert again.status_code == 400 and "already used" in again.body.decode()
    assert integration_item("acme", group["id"]) == before


def test_expired_forged_and_denied_authorizations_change_nothing(
    api: Api, fake: FakeSlack, clock: Any
) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    before = integration_item("acme", group["id"])
    denied = authorize(api, fake, integration["authorize_url"], deny=True)
    assert denied.status_code == 400 and "denied" in denied.body.decode()
    forged = api.client.http.get("/oauth/slack/callback?code=abc&state=eyJkIjoiYWNtZSJ9.AAAA")
    assert forged.status_code == 400 and "not one we issued" in forged.body.decode()
    assert api.client.http.get("/oauth/slack/callback").status_code == 400
    clock.advance(minutes=31)
    expired = authorize(api, fake, integration["authorize_url"])
    assert expired.status_code == 400 and "expired" in expired.body.decode()
    assert integration_item("acme", group["id"]) == before
    fresh = api.call("GET", f"/groups/{group['id']}/integrations/slack", token=token).json_body
    assert authorize(api, fake, fresh["authorize_url"]).status_code == 200  # a fresh link works


def test_a_code_slack_refuses_changes_nothing(api: Api, fake: FakeSlack) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    state = urlsplit(integration["authorize_url"]).query.split("state=")[1]
    refused = api.client.http.get(f"/oauth/slack/callback?code=not-a-code&state={state}")
    assert refused.status_code == 400 and "invalid_code" in refused.body.decode()
    assert integration_item("acme", group["id"])["status"] == "pending_auth"
    assert authorize(api, fake, integration["authorize_url"]).status_code == 200  # state not spent


def test_a_channel_feeds_one_group(api: Api, fake: FakeSlack) -> None:
    token = api.admin_token()
    connected_group(api, fake, token)
    _, second = slack_group(api, token)
    page = authorize(api, fake, second["authorize_url"])  # Slack's install chose the same channel
    assert page.status_code == 409 and "already connected" in page.body.decode()


# --- group → Slack ---------------------------------------------------------------------------------


def test_a_post_reaches_slack_once_under_the_posters_name(
    api: Api, fake: FakeSlack, client: Any, sent: list[Any]
) -> None:
    token = api.admin_token()
    group, _ = connected_group(api, fake, token)
    assert post(api, token, f"/groups/{group['id']}/messages", "Hello Slack").status_code == 201
    assert [m for m, _ in sent] == [
        {
            "kind": "slack_relay",
            "domain": "acme",
            "group_id": group["id"],
            "message_id": sent[0][0]["message_id"],
            "username": "Ada Admin",
            "attempt": 1,
        }
    ]
    assert drain(client, times=2) == 1  # delivered twice
    assert [(p["channel"], p["text"], p["username"]) for p in fake.posts] == [
        (fake.channel_id, "Hello Slack", "Ada Admin")
    ]


def test_a_429_is_retried_after_retry_after(api: Api, fake: FakeSlack, client: Any, sent: list[Any]) -> None:
    token = api.admin_token()
    group, _ = connected_group(api, fake, token)
    fake.rate_limit(1, retry_after=7)
    post(api, token, f"/groups/{group['id']}/messages", "Busy?")
    drain(client, times=1)
    assert [(m["attempt"], delay) for m, delay in sent] == [(1, 0), (2, 7)]
    assert [p["text"] for p in fake.posts] == ["Busy?"]


def test_transient_errors_back_off_and_permanent_ones_mark_the_integration(
    api: Api, fake: FakeSlack, client: Any, sent: list[Any]
) -> None:
    token = api.admin_token()
    group, _ = connected_group(api, fake, token)
    fake.fail(2, status=503)
    post(api, token, f"/groups/{group['id']}/messages", "Are you there?")
    drain(client, times=1)
    assert [(m["attempt"], delay) for m, delay in sent] == [(1, 0), (2, 5), (3, 10)]
    assert [p["text"] for p in fake.posts] == ["Are you there?"]
    # the token revoked at Slack: the integration shows the error, and stops relaying
    stored_token = next(iter(fake._tokens))
    fake.revoke(stored_token)
    post(api, token, f"/groups/{group['id']}/messages", "Anyone?")
    drain(client, times=1)
    read = api.call("GET", f"/groups/{group['id']}/integrations/slack", token=token).json_body
    assert (read["status"], read["error"]) == ("error", "token_revoked")
    sent.clear()
    post(api, token, f"/groups/{group['id']}/messages", "Still there?")
    assert sent == []
    # authorizing again makes it active
    assert authorize(api, fake, read["authorize_url"]).status_code == 200
    read = api.call("GET", f"/groups/{group['id']}/integrations/slack", token=token).json_body
    assert (read["status"], read["error"]) == ("active", None)


def test_slacks_messages_are_never_sent_back(api: Api, fake: FakeSlack, client: Any, sent: list[Any]) -> None:
    token = api.admin_token()
    group, integration = connected_group(api, fake, token)
    send_outgoing(api, webhook_path(integration), fixture_text("outgoing_webhook.txt"))
    assert len(group_texts(api, token, group["id"])) == 1
    assert sent == [] and drain(client) == 0 and fake.posts == []


def test_no_relay_without_an_integration_or_with_the_service_off(
    api: Api, fake: FakeSlack, client: Any, sent: list[Any]
) -> None:
    token = api.admin_token()
    plain = create_group(api, token, "Plain")
    post(api, token, f"/groups/{plain['id']}/messages", "no integration")
    assert sent == []
    group, _ = connected_group(api, fake, token)
    post(api, token, f"/groups/{group['id']}/messages", "queued, then the service goes off")
    assert api.call("PUT", "/admin/integrations/slack", {"enabled": False}, token=token).status_code == 200
    drain(client)
    assert fake.posts == []
    token = str(api.login("acme").json_body["token"])  # a token read after the switch
    sent.clear()
    post(api, token, f"/groups/{group['id']}/messages", "while off")
    assert sent == []


def test_a_deleted_integration_or_message_is_not_relayed(
    api: Api, fake: FakeSlack, client: Any, sent: list[Any]
) -> None:
    token = api.admin_token()
    group, _ = connected_group(api, fake, token)
    post(api, token, f"/groups/{group['id']}/messages", "then disconnected")
    assert api.call("DELETE", f"/groups/{group['id']}/integrations/slack", token=token).status_code == 204
    drain(client)
    assert fake.posts == []
    assert error_of(api.call("GET", f"/groups/{group['id']}/integrations/slack", token=token))[0] == 404


# --- change the channel ------------------------------------------------------------------------------


def test_patch_renames_and_moves_the_channel_slack_knows(api: Api, fake: FakeSlack) -> None:
    token = api.admin_token()
    group, integration = connected_group(api, fake, token)
    fake.add_channel("C999XYZ")
    path = f"/groups/{group['id']}/integrations/slack"
    response = api.call("PATCH", path, {"display_name": "Bridge", "channel_id": "C999XYZ"}, token=token)
    assert response.status_code == 200, response.body
    moved = response.json_body
    assert (moved["display_name"], moved["channel_id"], moved["channel_name"]) == (
        "Bridge",
        "C999XYZ",
        "#channel-c999xyz",
    )
    assert moved["webhook_url"] == integration["webhook_url"]
    assert error_of(api.call("PATCH", path, {"channel_id": "general"}, token=token)) == (
        400,
        "invalid_channel_id",
    )
    assert error_of(api.call("PATCH", path, {"channel_id": "C404NOPE"}, token=token)) == (
        400,
        "channel_not_found",
    )
    # the old channel no longer feeds the group; the new one does, under the new name
    envelope = fixture_json("event_message.json")
    envelope["team_id"], envelope["event"]["channel"] = fake.team_id, fake.channel_id
    assert send_event(api, envelope).status_code == 200
    envelope["event"]["channel"] = "C999XYZ"
    assert send_event(api, envelope).status_code == 200
    assert group_texts(api, token, group["id"]) == [
        {
            "text": "Live long and prospect.",
            "author": "Bridge",
            "via": {"service": "slack", "name": "U123ABC456"},
        }
    ]
    # the freed channel can feed another group; a channel in use cannot be taken
    other, _ = connected_group(api, fake, token)
    other_path = f"/groups/{other['id']}/integrations/slack"
    response = api.call("PATCH", other_path, {"channel_id": "C999XYZ"}, token=token)
    assert error_of(response) == (409, "channel_in_use")


def test_patch_channel_when_slack_refuses_the_token(api: Api, fake: FakeSlack) -> None:
    token = api.admin_token()
    group, _ = connected_group(api, fake, token)
    fake.revoke(next(iter(fake._tokens)))
    response = api.call(
        "PATCH", f"/groups/{group['id']}/integrations/slack", {"channel_id": "C0X"}, token=token
    )
    assert error_of(response) == (409, "slack_refused")
