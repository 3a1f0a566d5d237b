"""§5 Retention (issue 17, first part): in a HIPAA domain every message, chat and file carries a
DynamoDB TTL 7 days after it was posted, and no read route serves it from then on, whether or
not TTL has deleted it yet (moto runs no TTL: these tests see the items still there). Other
domains keep everything."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from chalicelib.core import aws
from chalicelib.core.clock import FixedClock
from chalicelib.core.config import get_settings
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from tests.conftest import ADMIN_PASSWORD, Api, error_of
from tests.integration.factories import add_user
from tests.integration.slack_support import send_outgoing, slack_group, webhook_path
from tests.integration.tenancy_content import create_group, upload

SEVEN_DAYS = 7 * 24 * 3600


def _hipaa_admin(api: Api, domain: str = "clinic") -> str:
    provisioned = api.provision(domain, plan="enterprise", billing="annual", hipaa=True)
    assert provisioned.status_code == 201, provisioned.body
    return _login(api, domain)


def _login(api: Api, domain: str, email: str | None = None) -> str:
    answer = api.login(domain, email=email, password=ADMIN_PASSWORD)
    assert answer.status_code == 200, answer.body
    return str(answer.json_body["token"])


def _content(api: Api, token: str, domain: str) -> dict[str, Any]:
    """A group message carrying a file, and a private chat message with another user."""
    other = add_user(domain, f"bo@{domain}.example")
    group = create_group(api, token, "Ward 3")
    file_id = upload(api, token)
    posted = api.call(
        "POST", f"/groups/{group['id']}/messages", {"text": "BP 120/80", "file_ids": [file_id]}, token=token
    )
    assert posted.status_code == 201, posted.body
    chat = api.call("POST", f"/chats/{other.id}/messages", {"text": "See you at 3"}, token=token)
    assert chat.status_code == 201, chat.body
    return {"group": group["id"], "file": file_id, "other": other.id, "message": posted.json_body["id"]}


def _visible(api: Api, token: str, content: dict[str, Any]) -> dict[str, Any]:
    group_messages = api.call("GET", f"/groups/{content['group']}/messages", token=token).json_body
    chat = api.call("GET", f"/chats/{content['other']}/messages", token=token).json_body
    chats = api.call("GET", "/chats", token=token).json_body
    download = api.call("GET", f"/files/{content['file']}", token=token)
    return {
        "group": [m["text"] for m in group_messages["items"]],
        "group_cursor": group_messages["next_cursor"],
        "chat": [m["text"] for m in chat["items"]],
        "chats": len(chats["items"]),
        "file": download.status_code,
    }


def test_hipaa_content_carries_a_ttl_seven_days_after_posting(api: Api, clock: FixedClock) -> None:
    token = _hipaa_admin(api)
    content = _content(api, token, "clinic")
    ttl = int(clock.now().timestamp()) + SEVEN_DAYS
    table = Table()
    message = table.get(keys.group_messages_pk("clinic", content["group"]), content["message"])
    file = table.get(keys.file_pk("clinic", content["file"]), keys.META)
    attachments = list(
        table.query_all(keys.file_pk("clinic", content["file"]), sk_prefix=keys.ATTACHMENT_PREFIX)
    )
    me = api.call("GET", "/me", token=token).json_body["id"]
    chat_items = [
        table.get(keys.user_pk("clinic", me), keys.chat_of_user_sk(content["other"])),
        table.get(keys.user_pk("clinic", content["other"]), keys.chat_of_user_sk(me)),
    ]
    chat_messages = list(table.query_all(keys.chat_messages_pk("clinic", me, content["other"])))
    for item in [message, file, *attachments, *chat_items, *chat_messages]:
        assert item is not None and item.get("ttl") == ttl, item


def test_nothing_is_served_seven_days_and_a_second_after_posting(api: Api, clock: FixedClock) -> None:
    token = _hipaa_admin(api)
    content = _content(api, token, "clinic")
    clock.advance(days=7, seconds=-1)
    token = _login(api, "clinic")
    assert _visible(api, token, content) == {
        "group": ["BP 120/80"],
        "group_cursor": None,
        "chat": ["See you at 3"],
        "chats": 1,
        "file": 200,
    }
    clock.advance(seconds=2)
    token = _login(api, "clinic")
    assert _visible(api, token, content) == {
        "group": [],
        "group_cursor": None,
        "chat": [],
        "chats": 0,
        "file": 404,
    }
    # an expired upload cannot be attached again either
    again = api.call(
        "POST",
        f"/groups/{content['group']}/messages",
        {"text": "x", "file_ids": [content["file"]]},
        token=token,
    )
    assert error_of(again) == (400, "invalid_file")


def test_newer_messages_page_past_expired_ones(api: Api, clock: FixedClock) -> None:
    token = _hipaa_admin(api)
    group = create_group(api, token, "Ward 4")
    api.call("POST", f"/groups/{group['id']}/messages", {"text": "old"}, token=token)
    clock.advance(days=6)
    token = _login(api, "clinic")
    api.call("POST", f"/groups/{group['id']}/messages", {"text": "new"}, token=token)
    clock.advance(days=1, seconds=1)
    token = _login(api, "clinic")
    page = api.call("GET", f"/groups/{group['id']}/messages?limit=5", token=token).json_body
    assert ([m["text"] for m in page["items"]], page["next_cursor"]) == (["new"], None)


def test_other_domains_keep_everything(api: Api, clock: FixedClock) -> None:
    token = api.admin_token("acme")
    content = _content(api, token, "acme")
    message = Table().get(keys.group_messages_pk("acme", content["group"]), content["message"])
    assert message is not None and "ttl" not in message
    clock.advance(days=60)
    token = _login(api, "acme")
    visible = _visible(api, token, content)
    assert (visible["group"], visible["chat"], visible["chats"], visible["file"]) == (
        ["BP 120/80"],
        ["See you at 3"],
        1,
        200,
    )


def test_messages_from_slack_expire_too(api: Api, clock: FixedClock) -> None:
    token = _hipaa_admin(api)
    api.call("PUT", "/admin/integrations/slack", {"enabled": True}, token=token)  # off in HIPAA domains
    token = _login(api, "clinic")  # a token read after the switch
    group, integration = slack_group(api, token)
    form = "team_id=T1&channel_id=C1&timestamp=1.1&user_name=Jo&text=from+Slack"
    assert send_outgoing(api, webhook_path(integration), form).status_code == 200
    items = list(Table().query_all(keys.group_messages_pk("clinic", group["id"])))
    assert [i.get("ttl") for i in items] == [int(clock.now().timestamp()) + SEVEN_DAYS]
    clock.advance(days=7, seconds=1)
    token = _login(api, "clinic")
    assert api.call("GET", f"/groups/{group['id']}/messages", token=token).json_body["items"] == []


def test_a_hipaa_upload_must_carry_the_retention_tag(api: Api) -> None:
    token = _hipaa_admin(api)
    body = {"filename": "scan.pdf", "content_type": "application/pdf", "size": 5}
    answer = api.call("POST", "/files", body, token=token).json_body
    assert answer["headers"] == {
        "Content-Type": "application/pdf",
        "Content-Length": "5",
        "x-amz-tagging": "retention=hipaa-7d&pending=true",  # pending: until a message carries it
    }
    assert "x-amz-tagging" in parse_qs(urlsplit(answer["upload_url"]).query)["X-Amz-SignedHeaders"][0]
    put = requests.put(answer["upload_url"], data=b"%PDF-", headers=answer["headers"], timeout=10)
    assert put.status_code == 200
    key = Table().get(keys.file_pk("clinic", answer["file_id"]), keys.META)
    assert key is not None
    tags = aws.s3().get_object_tagging(Bucket=get_settings().bucket, Key=key["s3_key"])["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"retention": "hipaa-7d", "pending": "true"}
    # the bucket's lifecycle rule (infra/) destroys what carries it, 7 days on
    rules = aws.s3().get_bucket_lifecycle_configuration(Bucket=get_settings().bucket)["Rules"]
    hipaa = next(r for r in rules if r["ID"] == "hipaa-7-day-retention")
    assert hipaa["Expiration"]["Days"] == 7 and hipaa["Status"] == "Enabled"


def test_other_domains_uploads_carry_no_retention_tag(api: Api) -> None:
    token = api.admin_token("acme")
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 5}
    answer = api.call("POST", "/files", body, token=token).json_body
    assert answer["headers"]["x-amz-tagging"] == "pending=true"  # only the pending tag (issue 17)


def test_the_deletion_preview_counts_no_expired_content(api: Api, clock: FixedClock) -> None:
    token = _hipaa_admin(api)
    bo = add_user("clinic", "bo@clinic.example")
    bo_token = _login(api, "clinic", "bo@clinic.example")
    group = create_group(api, token, "Ward 5")
    assert (
        api.call("POST", f"/groups/{group['id']}/members", {"user_id": bo.id}, token=token).status_code == 201
    )
    api.call("POST", f"/groups/{group['id']}/messages", {"text": "from Bo"}, token=bo_token)
    me = api.call("GET", "/me", token=token).json_body["id"]
    api.call("POST", f"/chats/{me}/messages", {"text": "hi"}, token=bo_token)

    def preview() -> tuple[int, int]:
        fresh = _login(api, "clinic")
        counts = api.call("GET", f"/admin/users/{bo.id}/deletion-preview", token=fresh).json_body
        return counts["private_chats"], counts["messages_elsewhere"]

    assert preview() == (1, 1)
    clock.advance(days=7, seconds=1)
    assert preview() == (0, 0)


def test_a_hipaa_domain_starts_with_the_outside_integrations_off(api: Api) -> None:
    token = _hipaa_admin(api)
    services = api.call("GET", "/admin/integrations", token=token).json_body["services"]
    assert [(s["service"], s["enabled"]) for s in services] == [("slack", False), ("mailchimp", False)]
    group = create_group(api, token, "Ward 6")
    refused = api.call(
        "POST", f"/groups/{group['id']}/integrations/slack", {"display_name": "x"}, token=token
    )
    assert error_of(refused) == (403, "service_disabled")
    assert api.call("PUT", "/admin/integrations/slack", {"enabled": True}, token=token).status_code == 200
