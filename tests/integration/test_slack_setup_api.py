"""§4 the services page and §6 a group's Slack integration over HTTP: create, read, change,
delete; who may; the service switch; Slack → group through outgoing webhooks and the Events
API (real payload shapes from tests/fixtures/slack), loops and duplicates."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.domain.integrations import Service
from chalicelib.domain.models import Role
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.integrations import IntegrationRepository
from tests.conftest import Api, error_of
from tests.integration.slack_support import (
    CLIENT_ID,
    TEST_NOW,
    fixture_json,
    fixture_text,
    group_texts,
    send_event,
    send_outgoing,
    signed_headers,
    slack_group,
    use_slack_app,
    webhook_path,
)
from tests.integration.tenancy_content import add_member, create_group, sign_in


@pytest.fixture(autouse=True)
def slack_app(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    use_slack_app(monkeypatch)


def _connect_channel(domain: str, group_id: str, team_id: str, channel_id: str) -> None:
    """The state the OAuth callback leaves (tested in test_slack_oauth_relay.py): authorized
    in a team, with a channel, without going through Slack."""
    from dataclasses import replace

    from chalicelib.domain.integrations import IntegrationStatus

    table = Table()
    repository = IntegrationRepository(table)
    integration = repository.get(domain, group_id, Service.SLACK)
    assert integration is not None
    connected = replace(
        integration,
        status=IntegrationStatus.ACTIVE,
        team_id=team_id,
        channel_id=channel_id,
        version=integration.version + 1,
    )
    table.transact(
        [repository.save_op(connected, integration.version), repository.claim_channel_op(connected)]
    )


# --- the services page ----------------------------------------------------------------------------


def test_the_services_page_lists_both_services_on_with_their_groups(api: Api) -> None:
    token = api.admin_token()
    assert api.call("GET", "/admin/integrations", token=token).json_body == {
        "services": [
            {"service": "slack", "enabled": True, "groups": 0},
            {"service": "mailchimp", "enabled": True, "groups": 0},
        ]
    }
    slack_group(api, token)
    slack_group(api, token)
    services = api.call("GET", "/admin/integrations", token=token).json_body["services"]
    assert services[0] == {"service": "slack", "enabled": True, "groups": 2}


def test_turning_a_service_off_refuses_configuring_and_keeps_settings(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    off = api.call("PUT", "/admin/integrations/slack", {"enabled": False}, token=token)
    assert off.status_code == 200
    assert off.json_body == {"service": "slack", "enabled": False, "groups": 1}
    path = f"/groups/{group['id']}/integrations/slack"
    assert error_of(api.call("GET", path, token=token)) == (403, "service_disabled")
    assert error_of(api.call("PATCH", path, {"display_name": "x"}, token=token)) == (403, "service_disabled")
    other = create_group(api, token, "Other")
    response = api.call(
        "POST", f"/groups/{other['id']}/integrations/slack", {"display_name": "x"}, token=token
    )
    assert error_of(response) == (403, "service_disabled")
    # its webhook is gone while off
    response = send_outgoing(api, webhook_path(integration), fixture_text("outgoing_webhook.txt"))
    assert error_of(response) == (404, "webhook_not_found")
    # on again: the same settings, the same URL, and the webhook works
    assert api.call("PUT", "/admin/integrations/slack", {"enabled": True}, token=token).status_code == 200
    again = api.call("GET", path, token=token).json_body
    assert again["webhook_url"] == integration["webhook_url"]
    assert again["display_name"] == "From Slack"
    assert (
        send_outgoing(api, webhook_path(integration), fixture_text("outgoing_webhook.txt")).status_code == 200
    )
    actions = [e["action"] for e in api.call("GET", "/admin/audit", token=token).json_body["items"]]
    assert "integration.service_disabled" in actions and "integration.service_enabled" in actions


def test_only_an_admin_turns_services_and_names_one_that_exists(api: Api) -> None:
    token = api.admin_token()
    _, member = sign_in(api, "acme", "mo@acme.example")
    assert error_of(api.call("GET", "/admin/integrations", token=member)) == (403, "forbidden")
    assert error_of(api.call("PUT", "/admin/integrations/slack", {"enabled": False}, token=member))[0] == 403
    response = api.call("PUT", "/admin/integrations/teams", {"enabled": False}, token=token)
    assert error_of(response) == (404, "service_not_found")
    response = api.call("PUT", "/admin/integrations/slack", {"enabled": "no"}, token=token)
    assert error_of(response)[0] == 400


# --- set-up ---------------------------------------------------------------------------------------


def test_a_group_admin_creates_the_integration_pending_authorization(api: Api) -> None:
    token = api.admin_token()
    group = create_group(api, token)
    response = api.call(
        "POST", f"/groups/{group['id']}/integrations/slack", {"display_name": " Slack bridge "}, token=token
    )
    assert response.status_code == 201
    body = response.json_body
    assert body["status"] == "pending_auth" and body["display_name"] == "Slack bridge"
    assert body["team_id"] is None and body["channel_id"] is None and body["error"] is None
    url = urlsplit(body["webhook_url"])
    assert f"{url.scheme}://{url.netloc}" == "https://chat.example.test"
    secret = url.path.removeprefix("/hooks/slack/")
    assert len(secret) >= 43  # 256 bits, base64url
    query = parse_qs(urlsplit(body["authorize_url"]).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == ["chat:write,chat:write.customize,incoming-webhook,channels:read"]
    assert query["redirect_uri"] == ["https://chat.example.test/oauth/slack/callback"]
    assert query["state"][0]
    # the secret is stored nowhere; the lookup item is keyed by its hash
    stored = [json.dumps(i, default=str) for i in Table().query_all(keys.group_pk("acme", group["id"]))]
    assert not any(secret in s for s in stored)
    # fixed for the integration's life: the same URL on every read
    again = api.call("GET", f"/groups/{group['id']}/integrations/slack", token=token).json_body
    assert again["webhook_url"] == body["webhook_url"]
    assert again["authorize_url"] != body["authorize_url"]  # a fresh state each time
    second = api.call("POST", f"/groups/{group['id']}/integrations/slack", {"display_name": "x"}, token=token)
    assert error_of(second) == (409, "integration_exists")


def test_who_may_configure_a_groups_integration(api: Api) -> None:
    admin = api.admin_token()
    _, member = sign_in(api, "acme", "mo@acme.example")
    ann, ann_token = sign_in(api, "acme", "ann@acme.example")
    _, outsider = sign_in(api, "acme", "out@acme.example")
    group = create_group(api, member)  # Mo's group: Mo is its admin
    add_member(api, member, group["id"], ann)
    path = f"/groups/{group['id']}/integrations/slack"
    assert error_of(api.call("POST", path, {"display_name": "x"}, token=outsider)) == (404, "group_not_found")
    assert error_of(api.call("POST", path, {"display_name": "x"}, token=ann_token)) == (
        403,
        "not_group_admin",
    )
    assert api.call("POST", path, {"display_name": "x"}, token=member).status_code == 201
    assert api.call("GET", path, token=admin).status_code == 200  # a domain admin manages every group
    assert error_of(api.call("GET", path, token=ann_token)) == (403, "not_group_admin")
    _, guest = sign_in(api, "acme", "guest@acme.example", role=Role.GUEST)
    assert error_of(api.call("GET", path, token=guest)) == (404, "group_not_found")


def test_display_name_rules_and_strict_bodies(api: Api) -> None:
    token = api.admin_token()
    group = create_group(api, token)
    path = f"/groups/{group['id']}/integrations/slack"
    assert error_of(api.call("POST", path, {}, token=token)) == (400, "missing_field")
    assert error_of(api.call("POST", path, {"display_name": "x" * 81}, token=token))[0] == 400
    assert error_of(api.call("POST", path, {"display_name": "x", "name": "y"}, token=token)) == (
        400,
        "unknown_field",
    )
    assert api.call("POST", path, {"display_name": "x"}, token=token).status_code == 201
    assert error_of(api.call("PATCH", path, {"display_name": "  "}, token=token)) == (400, "invalid_field")
    assert error_of(api.call("PATCH", path, {"channel_id": "C0123"}, token=token)) == (409, "not_authorized")


def test_delete_kills_the_webhook_and_frees_the_channel(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    _connect_channel("acme", group["id"], "T123ABC456", "C123ABC456")
    path = f"/groups/{group['id']}/integrations/slack"
    assert api.call("DELETE", path, token=token).status_code == 204
    assert error_of(api.call("GET", path, token=token)) == (404, "integration_not_found")
    response = send_outgoing(api, webhook_path(integration), fixture_text("outgoing_webhook.txt"))
    assert error_of(response) == (404, "webhook_not_found")
    assert Table().get(keys.slack_channel_pk("T123ABC456", "C123ABC456"), keys.CHANNEL) is None
    assert error_of(api.call("DELETE", path, token=token)) == (404, "integration_not_found")


# --- Slack → group ----------------------------------------------------------------------------------


def test_an_outgoing_webhook_posts_into_the_group_once(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token, "Slack bridge")
    form = fixture_text("outgoing_webhook.txt")
    response = send_outgoing(api, webhook_path(integration), form)
    assert response.status_code == 200 and response.json_body == {}
    send_outgoing(api, webhook_path(integration), form)  # Slack retried
    assert group_texts(api, token, group["id"]) == [
        {
            "text": "googlebot: What is the air-speed velocity of an unladen swallow?",
            "author": "Slack bridge",
            "via": {"service": "slack", "name": "Steve"},
        }
    ]


def test_bot_messages_and_unknown_secrets(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    response = send_outgoing(api, webhook_path(integration), fixture_text("outgoing_webhook_slackbot.txt"))
    assert response.status_code == 200
    assert group_texts(api, token, group["id"]) == []
    forged = webhook_path(integration)[:-4] + "AAAA"
    assert error_of(send_outgoing(api, forged, fixture_text("outgoing_webhook.txt"))) == (
        404,
        "webhook_not_found",
    )
    assert error_of(send_outgoing(api, "/hooks/slack/short", "text=hi")) == (404, "webhook_not_found")


def test_events_api_url_verification_and_signatures(api: Api) -> None:
    api.admin_token()
    challenge = fixture_json("url_verification.json")
    response = send_event(api, challenge)
    assert response.status_code == 200 and response.json_body == {"challenge": challenge["challenge"]}
    body = json.dumps(challenge).encode()
    stale = signed_headers(body, at=TEST_NOW - 301)
    assert error_of(send_event(api, challenge, stale)) == (401, "invalid_signature")
    forged = signed_headers(body, secret="not-our-signing-secret")
    assert error_of(send_event(api, challenge, forged)) == (401, "invalid_signature")
    unsigned = {"Content-Type": "application/json"}
    assert error_of(send_event(api, challenge, unsigned)) == (401, "invalid_signature")


def test_events_reach_the_connected_group_once_and_bots_never(api: Api) -> None:
    token = api.admin_token()
    group, _ = slack_group(api, token, "Slack bridge")
    _connect_channel("acme", group["id"], "T123ABC456", "C123ABC456")
    envelope = fixture_json("event_message.json")
    assert send_event(api, envelope).json_body == {}
    retry = signed_headers(json.dumps(envelope).encode())
    retry["X-Slack-Retry-Num"] = "1"
    assert send_event(api, envelope, retry).status_code == 200  # a retry: the same event again
    for bot in ("event_bot_message.json", "event_app_message.json"):
        bot_envelope = fixture_json(bot)
        bot_envelope["team_id"], bot_envelope["event"]["channel"] = "T123ABC456", "C123ABC456"
        assert send_event(api, bot_envelope).status_code == 200
    elsewhere = copy.deepcopy(envelope)
    elsewhere["event"]["channel"] = "C000NOTOURS"
    assert send_event(api, elsewhere).json_body == {}  # no group: accepted, dropped
    assert group_texts(api, token, group["id"]) == [
        {
            "text": "Live long and prospect.",
            "author": "Slack bridge",
            "via": {"service": "slack", "name": "U123ABC456"},
        }
    ]


def test_the_same_slack_message_by_both_ways_is_posted_once(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    _connect_channel("acme", group["id"], "T0001", "C2147483705")
    send_outgoing(api, webhook_path(integration), fixture_text("outgoing_webhook.txt"))
    envelope: dict[str, Any] = fixture_json("event_message.json")
    envelope["team_id"] = "T0001"
    envelope["event"].update(channel="C2147483705", ts="1504640775.000005")
    send_event(api, envelope)
    assert len(group_texts(api, token, group["id"])) == 1


def test_slack_text_is_unescaped_and_messages_show_via(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    send_outgoing(
        api,
        webhook_path(integration),
        "team_id=T1&channel_id=C1&timestamp=1.2&user_name=Jo&text=a+%26amp%3B+b+%26lt%3B3",
    )
    assert group_texts(api, token, group["id"])[0]["text"] == "a & b <3"
