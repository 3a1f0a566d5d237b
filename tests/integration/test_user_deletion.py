"""§4 Permanent deletion and bulk actions: exactly the promised items go, the rest stays readable."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.config import reset_settings
from chalicelib.repositories.dynamo import Table
from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.tenancy_content import add_member, create_group, post, sign_in, upload

BUCKET = "office-chat-files"


def drain_jobs(client: Any, duplicate: bool = True) -> int:
    """Plays Lambda's SQS event source: each message to the handler (twice: at least once)."""
    url = aws.sqs().get_queue_url(QueueName="office-chat-jobs")["QueueUrl"]
    for delivered in range(500):
        messages = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return delivered
        event = client.events.generate_sqs_event(
            message_bodies=[messages[0]["Body"]], queue_name="office-chat-jobs"
        )
        for _ in range(2 if duplicate else 1):
            client.lambda_.invoke("on_job", event)
        aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    raise AssertionError("the jobs queue never emptied")


def object_keys() -> set[str]:
    listed = aws.s3().list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"] for o in listed}


def file_key(file_id: str) -> str:
    item = Table().get(f"D#acme#F#{file_id}", "META")
    assert item is not None
    return str(item["s3_key"])


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    """acme: Vic (to be deleted), Olga and Tom, with groups, chats and files of each."""
    w: dict[str, Any] = {"admin": api.admin_token("acme")}
    w["vic_id"], w["vic"] = sign_in(api, "acme", "vic@acme.example")
    w["olga_id"], w["olga"] = sign_in(api, "acme", "olga@acme.example")
    w["tom_id"], w["tom"] = sign_in(api, "acme", "tom@acme.example")
    vic, olga, tom = w["vic"], w["olga"], w["tom"]
    # Vic's own group, where Olga posts too
    w["vics_group"] = create_group(api, vic, "Vic's group")["id"]
    add_member(api, vic, w["vics_group"], w["olga_id"])
    w["vic_file_1"] = upload(api, vic, b"vic one", "v1.txt")
    w["olga_file_in_vics_group"] = upload(api, olga, b"olga in vic's", "o1.txt")
    post(api, vic, f"/groups/{w['vics_group']}/messages", "vic in own group", [w["vic_file_1"]])
    post(
        api,
        olga,
        f"/groups/{w['vics_group']}/messages",
        "olga in vic's group",
        [w["olga_file_in_vics_group"]],
    )
    # Olga's group, where all three post
    w["olgas_group"] = create_group(api, olga, "Olga's group")["id"]
    add_member(api, olga, w["olgas_group"], w["vic_id"])
    add_member(api, olga, w["olgas_group"], w["tom_id"])
    w["vic_file_2"] = upload(api, vic, b"vic two", "v2.txt")
    w["tom_file"] = upload(api, tom, b"tom's", "t.txt")
    post(api, vic, f"/groups/{w['olgas_group']}/messages", "vic in olga's group", [w["vic_file_2"]])
    post(api, vic, f"/groups/{w['olgas_group']}/messages", "vic again")
    post(api, olga, f"/groups/{w['olgas_group']}/messages", "olga in her group")
    post(api, tom, f"/groups/{w['olgas_group']}/messages", "tom in olga's group", [w["tom_file"]])
    # chats: Vic-Olga (goes), Olga-Tom (stays)
    w["olga_file_in_chat"] = upload(api, olga, b"olga to vic", "o2.txt")
    post(api, vic, f"/chats/{w['olga_id']}/messages", "hi olga")
    post(api, olga, f"/chats/{w['vic_id']}/messages", "hi vic", [w["olga_file_in_chat"]])
    post(api, olga, f"/chats/{w['tom_id']}/messages", "hi tom")
    return w


def test_deletion_removes_exactly_what_the_seed_promises(
    api: Api, client: Any, world: dict[str, Any]
) -> None:
    w = world
    doomed_files = [w["vic_file_1"], w["vic_file_2"], w["olga_file_in_vics_group"], w["olga_file_in_chat"]]
    doomed_keys = {file_key(f) for f in doomed_files}
    kept_key = file_key(w["tom_file"])
    seats_before = _seats(api)

    preview = api.call("GET", f"/admin/users/{w['vic_id']}/deletion-preview", token=w["admin"]).json_body
    assert preview == {
        "private_chats": 1,
        "groups_created": 1,
        "group_messages": 2,
        "group_files": 2,
        "messages_elsewhere": 2,
        "files_elsewhere": 1,
        "devices": 0,
    }

    answer = api.call("DELETE", f"/admin/users/{w['vic_id']}", token=w["admin"])
    assert answer.status_code == 202
    job_id = answer.json_body["job_id"]
    # at once: no session, no login, no profile, not listed
    assert error_of(api.call("GET", "/me", token=w["vic"])) == (401, "invalid_token")
    assert error_of(api.login("acme", email="vic@acme.example")) == (401, "invalid_credentials")
    assert error_of(api.call("GET", f"/admin/users/{w['vic_id']}", token=w["admin"])) == (
        404,
        "user_not_found",
    )
    assert "vic@acme.example" not in str(api.call("GET", "/admin/users?q=vic", token=w["admin"]).json_body)

    drain_jobs(client)
    job = api.call("GET", f"/admin/jobs/{job_id}", token=w["admin"]).json_body
    assert job["status"] == "succeeded", job
    assert job["progress"]["done"] >= 1

    olga, tom = w["olga"], w["tom"]
    # Vic's group is gone for everyone
    assert error_of(api.call("GET", f"/groups/{w['vics_group']}", token=olga)) == (404, "group_not_found")
    assert w["vics_group"] not in str(api.call("GET", "/groups", token=olga).json_body)
    assert Table().query(f"D#acme#G#{w['vics_group']}").items == []
    assert Table().query(f"D#acme#G#{w['vics_group']}#MSGS").items == []
    # Olga's group keeps Olga's and Tom's messages only
    texts = {
        m["text"]
        for m in api.call("GET", f"/groups/{w['olgas_group']}/messages", token=tom).json_body["items"]
    }
    assert texts == {"tom in olga's group", "olga in her group"}
    members = {i["user_id"] for i in Table().query(f"D#acme#G#{w['olgas_group']}", sk_prefix="MEMBER#").items}
    assert members == {w["olga_id"], w["tom_id"]}
    # the Vic-Olga chat is gone from both sides; Olga-Tom stays
    assert (
        Table()
        .query(f"D#acme#C#{min(w['vic_id'], w['olga_id'])}#{max(w['vic_id'], w['olga_id'])}#MSGS")
        .items
        == []
    )
    assert Table().get(f"D#acme#U#{w['olga_id']}", f"CHAT#{w['vic_id']}") is None
    assert [
        m["text"] for m in api.call("GET", f"/chats/{w['olga_id']}/messages", token=tom).json_body["items"]
    ] == ["hi tom"]
    # files: the chat's and the deleted groups' are gone, in DynamoDB and S3; Tom's stays
    for file_id in doomed_files:
        assert error_of(api.call("GET", f"/files/{file_id}", token=w["olga"])) == (404, "file_not_found")
        assert Table().query(f"D#acme#F#{file_id}").items == []
    remaining = object_keys()
    assert doomed_keys.isdisjoint(remaining) and kept_key in remaining
    assert api.call("GET", f"/files/{w['tom_file']}", token=olga).status_code == 200
    # nothing of Vic's is left in Vic's partition, and the seat is free
    assert Table().query(f"D#acme#U#{w['vic_id']}").items == []
    assert _seats(api) == seats_before - 1
    actions = [
        (e["action"], e["details"].get("email"))
        for e in api.call("GET", "/admin/audit", token=w["admin"]).json_body["items"]
    ]
    assert ("user.deleted", "vic@acme.example") in actions
    assert ("user.deletion_requested", "vic@acme.example") in actions
    assert error_of(api.call("DELETE", f"/admin/users/{w['vic_id']}", token=w["admin"])) == (
        404,
        "user_not_found",
    )


def test_a_large_user_is_deleted_in_checkpointed_steps(
    api: Api, client: Any, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OC_DELETE_STEP_ITEMS", "3")
    reset_settings()
    w = world
    job_id = api.call("DELETE", f"/admin/users/{w['vic_id']}", token=w["admin"]).json_body["job_id"]
    steps = drain_jobs(client, duplicate=True)
    assert steps >= 3  # several checkpointed steps, each delivered twice
    job = api.call("GET", f"/admin/jobs/{job_id}", token=w["admin"]).json_body
    assert job["status"] == "succeeded"
    assert Table().query(f"D#acme#U#{w['vic_id']}").items == []
    texts = {
        m["text"]
        for m in api.call("GET", f"/groups/{w['olgas_group']}/messages", token=w["tom"]).json_body["items"]
    }
    assert texts == {"tom in olga's group", "olga in her group"}


def test_who_may_not_be_deleted(api: Api) -> None:
    token = api.admin_token("acme")
    me = api.call("GET", "/me", token=token).json_body
    assert error_of(api.call("DELETE", f"/admin/users/{me['id']}", token=token)) == (
        409,
        "cannot_delete_self",
    )
    assert error_of(api.call("DELETE", "/admin/users/01m8a7cynkbvze55jkdypexhtp", token=token)) == (
        404,
        "user_not_found",
    )
    _, member = sign_in(api, "acme", "mo@acme.example")
    assert error_of(api.call("DELETE", f"/admin/users/{me['id']}", token=member)) == (403, "forbidden")


def test_bulk_actions_report_each_user(api: Api, client: Any) -> None:
    admin = api.admin_token("acme")
    me = api.call("GET", "/me", token=admin).json_body["id"]
    ids = [sign_in(api, "acme", f"u{n}@acme.example")[0] for n in range(3)]
    unknown = "01m8a7cynkbvze55jkdypexhtp"
    answer = api.call(
        "POST", "/admin/users/bulk", {"action": "deactivate", "user_ids": [*ids, unknown, me]}, token=admin
    )
    assert answer.status_code == 202
    drain_jobs(client)
    job = api.call("GET", f"/admin/jobs/{answer.json_body['job_id']}", token=admin).json_body
    assert job["status"] == "succeeded" and job["progress"] == {"done": 5, "total": 5}
    outcomes = job["result"]["outcomes"]
    assert [outcomes[i] for i in ids] == ["ok", "ok", "ok"]
    assert outcomes[unknown] == "not_found" and outcomes[me] == "cannot_deactivate_self"
    listed = api.call("GET", "/admin/users?status=deactivated", token=admin).json_body["items"]
    assert sorted(u["id"] for u in listed) == sorted(ids)

    deleted = api.call("POST", "/admin/users/bulk", {"action": "delete", "user_ids": ids[:2]}, token=admin)
    drain_jobs(client)
    job = api.call("GET", f"/admin/jobs/{deleted.json_body['job_id']}", token=admin).json_body
    assert set(job["result"]["deletion_jobs"]) == set(ids[:2])
    for deletion_job in job["result"]["deletion_jobs"].values():
        assert api.call("GET", f"/admin/jobs/{deletion_job}", token=admin).json_body["status"] == "succeeded"
    assert error_of(api.call("GET", f"/admin/users/{ids[0]}", token=admin)) == (404, "user_not_found")


def test_bulk_input_is_checked(api: Api) -> None:
    admin = api.admin_token("acme")
    too_many = [f"{n:026d}" for n in range(1001)]
    assert error_of(
        api.call("POST", "/admin/users/bulk", {"action": "delete", "user_ids": too_many}, token=admin)
    ) == (400, "too_many_items")
    assert error_of(
        api.call("POST", "/admin/users/bulk", {"action": "purge", "user_ids": ["x"]}, token=admin)
    ) == (400, "invalid_enum")
    assert error_of(
        api.call("POST", "/admin/users/bulk", {"action": "delete", "user_ids": []}, token=admin)
    ) == (400, "invalid_field")


def _seats(api: Api) -> int:
    body = api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY}).json_body
    return int(json.loads(json.dumps(body))["seats"]["used"])
