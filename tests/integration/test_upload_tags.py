"""Issue 17, the rest of retention: every S3 object of a HIPAA domain's CSV import carries the
retention tag (the upload's presigned PUT signs it, a drop is tagged at intake, the reports are
written with it), and a file upload that no message carries is removed a day on in every domain
(the pending tag, its lifecycle rule, the record's `ttl`), the first message that carries it
removing the pending tag before it commits. moto runs no lifecycle and no TTL: these tests check
the tags, the rules and the items, and that reads refuse what is past its time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from chalicelib.core import aws
from chalicelib.core.clock import FixedClock
from chalicelib.core.config import get_settings
from chalicelib.domain.models import Retention
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.imports import ImportFiles
from infra.emulator import load_template
from tests.conftest import ADMIN_PASSWORD, Api, error_of
from tests.integration.tenancy_content import create_group, post, sign_in
from tests.integration.test_import_identity import S3_EVENTS, _hand_over, _take
from tests.integration.test_imports_api import deliver, the_import
from tests.integration.test_presigned_uploads import conforms, s3_accepts, signed_headers

BUCKET = "office-chat-files"
DAY = 24 * 3600
HIPAA_TAG = {"retention": "hipaa-7d"}
PENDING_TAG = {"pending": "true"}
CSV = "Email,First Name\nann@{d}.example,Ann\nbo@{d}.example,Bo\n"


def tags(key: str) -> dict[str, str]:
    answer = aws.s3().get_object_tagging(Bucket=BUCKET, Key=key)
    return {t["Key"]: t["Value"] for t in answer["TagSet"]}


def login(api: Api, domain: str, email: str | None = None) -> str:
    answer = api.login(domain, email=email, password=ADMIN_PASSWORD)
    assert answer.status_code == 200, answer.body
    return str(answer.json_body["token"])


def hipaa_admin(api: Api, domain: str = "clinic") -> str:
    provisioned = api.provision(domain, plan="enterprise", billing="annual", hipaa=True)
    assert provisioned.status_code == 201, provisioned.body
    return login(api, domain)


@pytest.fixture
def ses(aws_env: None) -> None:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")


@pytest.fixture
def s3_calls(client: Any) -> Iterator[list[str]]:
    """The S3 operations the app calls from here on, in order."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    aws.s3().meta.events.register("before-call.s3", record)
    yield calls
    aws.s3().meta.events.unregister("before-call.s3", record)


def new_upload(api: Api, token: str, data: bytes = b"hello") -> dict[str, Any]:
    """POST /files and the client's PUT with exactly the answered headers; the answer."""
    body = {"filename": "notes.txt", "content_type": "text/plain", "size": len(data)}
    answer = api.call("POST", "/files", body, token=token)
    assert answer.status_code == 201, answer.body
    ticket = dict(answer.json_body)
    put = requests.put(ticket["upload_url"], data=data, headers=ticket["headers"], timeout=10)
    assert put.status_code == 200, put.text
    return ticket


def file_item(domain: str, file_id: str) -> dict[str, Any]:
    item = Table().get(keys.file_pk(domain, file_id), keys.META)
    assert item is not None
    return item


def object_key(domain: str, file_id: str) -> str:
    return str(file_item(domain, file_id)["s3_key"])


# --- CSV imports of a HIPAA domain ------------------------------------------------------------------


def test_an_import_upload_signs_the_retention_tag_in_a_hipaa_domain(api: Api, client: Any, ses: None) -> None:
    token = hipaa_admin(api)
    answer = api.call("POST", "/admin/imports", {"mode": "skip"}, token=token).json_body
    assert answer["headers"] == {"Content-Type": "text/csv", "x-amz-tagging": "retention=hipaa-7d"}
    assert signed_headers(answer["upload_url"]) == {"content-type", "host", "x-amz-tagging"}
    assert s3_accepts(answer["upload_url"], answer["headers"])
    assert not s3_accepts(answer["upload_url"], {"Content-Type": "text/csv"})  # S3 refuses it untagged
    conforms(answer, "ImportStarted")
    data = CSV.format(d="clinic").encode()
    put = requests.put(answer["upload_url"], data=data, headers=answer["headers"], timeout=10)
    assert put.status_code == 200
    key = f"imports/clinic/{answer['import_id']}.csv"
    assert tags(key) == HIPAA_TAG
    deliver(client)
    details = the_import(api, token, answer["import_id"])
    assert (details["status"], details["counts"]["created"]) == ("completed", 2)
    assert tags(f"import-reports/clinic/{answer['import_id']}/report.csv") == HIPAA_TAG


def test_other_domains_import_uploads_and_reports_carry_no_tag(api: Api, client: Any, ses: None) -> None:
    token = api.admin_token("acme")
    answer = api.call("POST", "/admin/imports", {"mode": "skip"}, token=token).json_body
    assert answer["headers"] == {"Content-Type": "text/csv"}
    assert "x-amz-tagging" not in signed_headers(answer["upload_url"])
    put = requests.put(
        answer["upload_url"], data=CSV.format(d="acme").encode(), headers=answer["headers"], timeout=10
    )
    assert put.status_code == 200
    deliver(client)
    assert the_import(api, token, answer["import_id"])["status"] == "completed"
    assert tags(f"imports/acme/{answer['import_id']}.csv") == {}
    assert tags(f"import-reports/acme/{answer['import_id']}/report.csv") == {}


def test_a_csv_dropped_in_a_hipaa_domain_is_tagged_at_intake_once_keeping_its_tags(
    api: Api, client: Any, ses: None, caplog: pytest.LogCaptureFixture
) -> None:
    token = hipaa_admin(api)
    key = "imports/clinic/staff.csv"
    # an operator's `aws s3 cp`: no retention tag, maybe tags of its own
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=CSV.format(d="clinic").encode(), Tagging="owner=ops")
    (event,) = _take(S3_EVENTS)
    with caplog.at_level(logging.INFO, logger="chalicelib.services.imports.intake"):
        _hand_over(client, S3_EVENTS, event)
        _hand_over(client, S3_EVENTS, event)  # SQS delivers the same event again
    assert tags(key) == {"owner": "ops", **HIPAA_TAG}
    tagged = [r for r in caplog.records if r.getMessage() == "import object tagged"]
    assert len(tagged) == 1  # the duplicate found the claim: nothing written again
    deliver(client)
    (item,) = api.call("GET", "/admin/imports", token=token).json_body["items"]
    assert (item["status"], item["counts"]["created"]) == ("completed", 2)
    assert tags(key) == {"owner": "ops", **HIPAA_TAG}
    assert tags(f"import-reports/clinic/{item['id']}/report.csv") == HIPAA_TAG


def test_tagging_an_import_object_twice_writes_once(aws_env: None) -> None:
    """A delivery that tagged the object and died before its claim: the next one tags nothing more."""
    files = ImportFiles()
    key = "imports/clinic/again.csv"
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=b"Email\n", Tagging="retention=hipaa-7d&owner=ops")
    assert files.add_tags(key, None, "retention=hipaa-7d") is False
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=b"Email\n", Tagging="retention=old")
    assert files.add_tags(key, None, "retention=hipaa-7d") is True
    assert files.add_tags(key, None, "retention=hipaa-7d") is False
    assert tags(key) == HIPAA_TAG


def test_a_csv_dropped_in_another_domain_is_not_tagged(api: Api, client: Any, ses: None) -> None:
    api.admin_token("acme")
    key = "imports/acme/staff.csv"
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=CSV.format(d="acme").encode())
    deliver(client)
    assert tags(key) == {}


@pytest.mark.parametrize("part_bytes", [30, 3 * 1024 * 1024], ids=["one PutObject", "multipart"])
def test_import_reports_are_written_with_the_tag(aws_env: None, part_bytes: int) -> None:
    files = ImportFiles()
    rows = [f"{chunk},a{chunk}@x.example,created,".ljust(part_bytes - 2, " ") + "\r\n" for chunk in range(3)]
    for chunk, row in enumerate(rows):
        files.put_part("clinic", "i1", chunk, row.encode(), "retention=hipaa-7d")
    parts = [f"import-reports/clinic/i1/part-{chunk:07d}.csv" for chunk in range(3)]
    assert [tags(part) for part in parts] == [HIPAA_TAG] * 3
    key = files.join_parts("clinic", "i1", 3, b"line,email\r\n", "retention=hipaa-7d")
    joined = aws.s3().get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert joined == "line,email\r\n" + "".join(rows)
    assert tags(key) == HIPAA_TAG
    other = files.join_parts("acme", "i2", 0, b"line,email\r\n")
    assert tags(other) == {}


# --- uploads never attached -------------------------------------------------------------------------


def test_a_file_upload_is_pending_until_a_message_carries_it(api: Api, clock: FixedClock) -> None:
    token = api.admin_token("acme")
    uploaded_at = int(clock.now().timestamp())
    ticket = new_upload(api, token)
    file_id = ticket["file_id"]
    assert ticket["headers"]["x-amz-tagging"] == "pending=true"
    key = object_key("acme", file_id)
    assert tags(key) == PENDING_TAG
    item = file_item("acme", file_id)
    assert (item.get("ttl"), item.get("pending")) == (uploaded_at + DAY, True)

    clock.advance(hours=5)
    token = login(api, "acme")
    group = create_group(api, token, "Launch")
    assert post(api, token, f"/groups/{group['id']}/messages", "the file", [file_id]).status_code == 201
    assert tags(key) == {}
    item = file_item("acme", file_id)
    assert "ttl" not in item and "pending" not in item  # kept as acme keeps content: for ever

    clock.advance(days=30)  # long past the day: an attached file stays, and may be attached again
    token = login(api, "acme")
    assert api.call("GET", f"/files/{file_id}", token=token).status_code == 200
    assert post(api, token, f"/groups/{group['id']}/messages", "again", [file_id]).status_code == 201
    assert tags(key) == {}


def test_in_a_hipaa_domain_an_attached_file_keeps_the_retention_tag_and_its_seven_days(
    api: Api, clock: FixedClock
) -> None:
    token = hipaa_admin(api)
    uploaded_at = int(clock.now().timestamp())
    file_id = new_upload(api, token)["file_id"]
    key = object_key("clinic", file_id)
    assert tags(key) == {**HIPAA_TAG, **PENDING_TAG}
    item = file_item("clinic", file_id)
    assert (item.get("ttl"), item.get("pending")) == (uploaded_at + DAY, True)

    clock.advance(hours=2)
    token = login(api, "clinic")
    other_id, _ = sign_in(api, "clinic", "bo@clinic.example")
    answer = post(api, token, f"/chats/{other_id}/messages", "scan", [file_id])  # a private chat too
    assert answer.status_code == 201, answer.body
    assert tags(key) == HIPAA_TAG
    item = file_item("clinic", file_id)
    assert item.get("ttl") == uploaded_at + 7 * DAY and "pending" not in item  # 7 days from the upload


def test_a_pending_file_is_not_served_nor_attachable_past_its_day(api: Api, clock: FixedClock) -> None:
    token = api.admin_token("acme")
    file_id = new_upload(api, token)["file_id"]
    _, bo = sign_in(api, "acme", "bo@acme.example")
    assert error_of(api.call("GET", f"/files/{file_id}", token=bo)) == (404, "file_not_found")  # not Bo's

    clock.advance(days=1, seconds=-1)
    token = login(api, "acme")
    assert api.call("GET", f"/files/{file_id}", token=token).status_code == 200  # its owner's, for a day
    clock.advance(seconds=1)
    token = login(api, "acme")
    assert error_of(api.call("GET", f"/files/{file_id}", token=token)) == (404, "file_not_found")
    group = create_group(api, token, "Late")
    late = post(api, token, f"/groups/{group['id']}/messages", "too late", [file_id])
    assert error_of(late) == (400, "invalid_file")
    assert tags(object_key("acme", file_id)) == PENDING_TAG  # the lifecycle takes it
    assert file_item("acme", file_id).get("pending") is True


def test_a_bad_file_is_refused_before_any_object_loses_its_tag(
    api: Api, clock: FixedClock, s3_calls: list[str]
) -> None:
    token = api.admin_token("acme")
    group = create_group(api, token, "Launch")
    good = new_upload(api, token)["file_id"]
    never_put = api.call(
        "POST", "/files", {"filename": "x.txt", "content_type": "text/plain", "size": 3}, token=token
    ).json_body["file_id"]
    s3_calls.clear()
    unknown = post(api, token, f"/groups/{group['id']}/messages", "x", [good, "01jd3xb2c3d4e5f6g7h8j9k0m1"])
    assert error_of(unknown) == (400, "invalid_file")
    missing = post(api, token, f"/groups/{group['id']}/messages", "x", [good, never_put])
    assert error_of(missing) == (400, "file_not_uploaded")
    assert "PutObjectTagging" not in s3_calls and "DeleteObjectTagging" not in s3_calls
    assert tags(object_key("acme", good)) == PENDING_TAG
    assert file_item("acme", good).get("pending") is True


def test_a_post_without_files_makes_no_s3_call_and_one_with_files_one_tagging_call_a_file(
    api: Api, clock: FixedClock, s3_calls: list[str]
) -> None:
    token = api.admin_token("acme")
    group = create_group(api, token, "Launch")
    first, second = new_upload(api, token)["file_id"], new_upload(api, token)["file_id"]
    s3_calls.clear()
    assert post(api, token, f"/groups/{group['id']}/messages", "no files").status_code == 201
    assert s3_calls == []
    assert post(api, token, f"/groups/{group['id']}/messages", "two", [first, second]).status_code == 201
    # every check (HeadObject of each file) before the first tag is removed
    assert s3_calls == ["HeadObject", "HeadObject", "DeleteObjectTagging", "DeleteObjectTagging"]
    s3_calls.clear()
    assert post(api, token, f"/groups/{group['id']}/messages", "again", [first]).status_code == 201
    assert s3_calls == ["HeadObject"]  # attached before: its tag is gone already


def test_the_lifecycle_rule_removes_pending_uploads_a_day_on(aws_env: None) -> None:
    bucket = next(r for r in load_template()["Resources"].values() if r["Type"] == "AWS::S3::Bucket")
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    pending = rules["unattached-uploads-1-day"]
    assert pending == {
        "Id": "unattached-uploads-1-day",
        "Status": "Enabled",
        "TagFilters": [{"Key": "pending", "Value": "true"}],
        "ExpirationInDays": 1,
    }
    hipaa = rules["hipaa-7-day-retention"]["TagFilters"]
    # the tags the code writes are the ones the rules filter on
    assert dict(parse_qsl(Retention(7).upload_tagging)) == {
        hipaa[0]["Key"]: hipaa[0]["Value"],
        pending["TagFilters"][0]["Key"]: pending["TagFilters"][0]["Value"],
    }
    assert Retention().upload_tagging == "pending=true"
    # and the emulator's bucket (tests, make run) has it, as S3's API gives it
    applied = aws.s3().get_bucket_lifecycle_configuration(Bucket=get_settings().bucket)["Rules"]
    rule = next(r for r in applied if r["ID"] == "unattached-uploads-1-day")
    assert (rule["Status"], rule["Filter"], rule["Expiration"]["Days"]) == (
        "Enabled",
        {"Tag": {"Key": "pending", "Value": "true"}},
        1,
    )
