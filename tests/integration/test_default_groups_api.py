"""§4 Default groups and the job framework: marking a group default adds the domain's users,
inline for a small domain, step by step through the jobs queue for a large one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.core import aws, ids
from chalicelib.core.config import reset_settings
from chalicelib.domain.models import Group, GroupRole, UserStatus
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository
from chalicelib.services import default_groups
from tests.conftest import Api, error_of
from tests.integration.factories import add_user


def make_group(domain: str, name: str, creator: str | None = None) -> Group:
    group = Group(
        id=ids.new_id(),
        domain=domain,
        name=name,
        description="",
        created_by=creator,
        is_default=False,
        created_at=datetime.now(UTC),
    )
    table = Table()
    members = [(creator, GroupRole.ADMIN)] if creator else []
    table.transact(GroupRepository(table).create_ops(group, members, group.created_at))
    return group


def members(group: Group) -> dict[str, str]:
    items = Table().query(f"D#{group.domain}#G#{group.id}", sk_prefix="MEMBER#").items
    return {i["user_id"]: i["role"] for i in items}


def test_listing_the_default_groups(api: Api) -> None:
    token = api.admin_token("acme")
    make_group("acme", "Zebra team")
    listed = api.call("GET", "/admin/groups?default=true", token=token).json_body
    assert [g["name"] for g in listed["items"]] == ["Admin Announcements", "All Of Us"]
    assert all(g["default"] for g in listed["items"])
    everything = api.call("GET", "/admin/groups", token=token).json_body["items"]
    assert [g["name"] for g in everything] == ["Admin Announcements", "All Of Us", "Zebra team"]
    assert error_of(api.call("GET", "/admin/groups?default=maybe", token=token)) == (400, "invalid_field")


def test_marking_a_group_default_adds_active_and_invited_users_inline(api: Api) -> None:
    token = api.admin_token("acme")
    creator = add_user("acme", "creator@acme.example")
    invited = add_user("acme", "new@acme.example", status=UserStatus.INVITED)
    gone = add_user("acme", "gone@acme.example", status=UserStatus.DEACTIVATED)
    _register_roster(creator, invited, gone)
    group = make_group("acme", "Everyone", creator=creator.id)
    answer = api.call("PUT", f"/admin/groups/{group.id}/default", {"default": True}, token=token)
    assert answer.status_code == 200
    assert answer.json_body["default"] is True
    job = answer.json_body["job"]
    assert job["status"] == "succeeded" and job["kind"] == "default_group.add_members"
    found = members(group)
    assert found[creator.id] == "admin"  # a group admin stays one
    assert invited.id in found and gone.id not in found
    me = api.call("GET", "/me", token=token).json_body
    assert me["id"] in found
    assert api.call("GET", f"/admin/jobs/{job['id']}", token=token).json_body["status"] == "succeeded"
    again = api.call("PUT", f"/admin/groups/{group.id}/default", {"default": True}, token=token)
    assert again.status_code == 200 and again.json_body["job"] is None
    later = api.call(
        "POST",
        "/admin/users",
        {"email": "later@acme.example", "first_name": "L", "last_name": "Ater"},
        token=token,
    ).json_body
    assert later["id"] in members(group)


def test_a_large_domain_runs_the_job_step_by_step_from_the_queue(
    api: Api, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OC_INLINE_JOB_USERS", "1")
    reset_settings()
    monkeypatch.setattr(default_groups, "STEP_SIZE", 2)
    token = api.admin_token("acme")
    for n in range(5):
        api.call(
            "POST",
            "/admin/users",
            {"email": f"u{n}@acme.example", "first_name": "U", "last_name": str(n)},
            token=token,
        )
    group = make_group("acme", "Big")
    answer = api.call("PUT", f"/admin/groups/{group.id}/default", {"default": True}, token=token)
    assert answer.status_code == 202
    job = answer.json_body["job"]
    assert job["status"] == "queued" and job["progress"] == {"done": 0, "total": 6}
    deliveries = _drain_jobs_queue(client, duplicate_each=True)
    assert deliveries >= 3
    final = api.call("GET", f"/admin/jobs/{job['id']}", token=token).json_body
    assert final["status"] == "succeeded"
    assert final["progress"] == {"done": 6, "total": 6}
    assert final["result"] == {"added": 6}
    assert len(members(group)) == 6


def test_unmarking_keeps_the_members(api: Api) -> None:
    token = api.admin_token("acme")
    group_id = api.call("GET", "/admin/groups?default=true", token=token).json_body["items"][0]["id"]
    answer = api.call("PUT", f"/admin/groups/{group_id}/default", {"default": False}, token=token)
    assert answer.status_code == 200 and answer.json_body["default"] is False
    assert len(api.call("GET", "/admin/groups?default=true", token=token).json_body["items"]) == 1
    actions = [e["action"] for e in api.call("GET", "/admin/audit", token=token).json_body["items"]]
    assert actions[0] == "group.default_unset"


def test_default_marking_input_and_unknown_ids(api: Api) -> None:
    token = api.admin_token("acme")
    group_id = api.call("GET", "/admin/groups", token=token).json_body["items"][0]["id"]
    assert error_of(
        api.call("PUT", f"/admin/groups/{group_id}/default", {"default": "yes"}, token=token)
    ) == (400, "invalid_field")
    assert error_of(
        api.call("PUT", f"/admin/groups/{ids.new_id()}/default", {"default": True}, token=token)
    ) == (404, "group_not_found")
    assert error_of(api.call("GET", f"/admin/jobs/{ids.new_id()}", token=token)) == (404, "job_not_found")


def _register_roster(*users: Any) -> None:
    from chalicelib.repositories.users import UserIndexRepository

    table = Table()
    index = UserIndexRepository(table)
    table.transact([op for user in users for op in index.put_ops(user)])


def _drain_jobs_queue(client: Any, duplicate_each: bool) -> int:
    """Plays the event source mapping: every message to the handler (twice, when asked: at least
    once delivery), until the queue is empty."""
    url = aws.sqs().get_queue_url(QueueName="office-chat-jobs")["QueueUrl"]
    for delivered in range(50):
        messages = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return delivered
        body = messages[0]["Body"]
        assert json.loads(body)["kind"] == "default_group.add_members"
        event = client.events.generate_sqs_event(message_bodies=[body], queue_name="office-chat-jobs")
        for _ in range(2 if duplicate_each else 1):
            client.lambda_.invoke("on_job", event)
        aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    raise AssertionError("the jobs queue never emptied")
