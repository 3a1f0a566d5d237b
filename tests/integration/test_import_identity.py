"""§7 on moto: every object put under imports/ is its own import, identified by its S3 event's
`versionId`, else its `sequencer` (localdev/emulator.py patch_s3_events gives moto's events what
S3's carry); only a second delivery of one event is a duplicate, and it is logged as one. An
upload's key takes one file: the first object wins, a later one is logged as refused."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.config import get_settings, reset_settings
from chalicelib.domain.s3_object import S3Object
from chalicelib.events import s3_events
from tests.conftest import Api
from tests.integration.test_imports_api import deliver, drop, report_rows, start, the_import

BUCKET = "office-chat-files"
S3_EVENTS, JOBS = "office-chat-s3-events", "office-chat-jobs"
BODY = "Email,First Name\nann@acme.example,Ann\nbo@acme.example,Bo\n"


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def _imports(api: Api, admin: str) -> list[dict[str, Any]]:
    """The domain's imports, oldest first, with their details."""
    items = api.call("GET", "/admin/imports", token=admin).json_body["items"]
    return [the_import(api, admin, item["id"]) for item in reversed(items)]


def _take(queue: str) -> list[str]:
    """Every message body on the queue (deleted), the S3 TestEvent left out."""
    url = aws.sqs().get_queue_url(QueueName=queue)["QueueUrl"]
    bodies: list[str] = []
    while True:
        batch = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return [b for b in bodies if "s3:TestEvent" not in b]
        for message in batch:
            bodies.append(message["Body"])
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _hand_over(client: Any, queue: str, body: str) -> None:
    handler = "on_s3_event" if queue == S3_EVENTS else "on_job"
    client.lambda_.invoke(handler, client.events.generate_sqs_event(message_bodies=[body], queue_name=queue))


def _object_of(body: str) -> dict[str, Any]:
    return dict(json.loads(body)["Records"][0]["s3"]["object"])


# --- the same bytes again ------------------------------------------------------------------------


def test_the_same_bytes_dropped_twice_at_one_key_are_two_imports_with_their_own_options(
    api: Api, client: Any, admin: str
) -> None:
    drop("users.csv", BODY)
    deliver(client)  # every message twice: the duplicates change nothing
    drop("users.csv", BODY, mode="update", **{"send-invites": "true"})  # same bytes, new metadata
    deliver(client)

    first, second = _imports(api, admin)
    assert (first["status"], second["status"]) == ("completed", "completed")
    assert (first["mode"], first["send_invites"], first["options"]) == ("skip", False, None)
    assert (second["mode"], second["send_invites"], second["options"]) == ("update", True, None)
    assert first["file"] == second["file"] == "imports/acme/users.csv"
    assert first["counts"]["created"] == 2
    assert second["counts"]["skipped"] == 2  # they exist now, and the row changes none of their fields
    assert {r["reason"] for r in report_rows(second)} == {"exists; the row changes none of its fields"}


def test_one_event_delivered_twice_is_one_import_and_the_duplicate_is_logged(
    api: Api, client: Any, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    drop("team.csv", BODY)
    (event,) = _take(S3_EVENTS)
    sequencer = _object_of(event)["sequencer"]
    assert sequencer and "versionId" not in _object_of(event)  # the bucket is not versioned
    _hand_over(client, S3_EVENTS, event)
    with caplog.at_level(logging.INFO, logger="chalicelib.services.imports.intake"):
        _hand_over(client, S3_EVENTS, event)  # SQS delivers the same message again
    deliver(client)

    (only,) = _imports(api, admin)
    assert only["status"] == "completed" and only["counts"]["created"] == 2
    duplicates = [r for r in caplog.records if "duplicate S3 event" in r.getMessage()]
    assert len(duplicates) == 1
    fields = duplicates[0].fields  # type: ignore[attr-defined]
    assert fields["duplicate_of"] == only["id"]
    assert (fields["bucket"], fields["key"], fields["sequencer"]) == (
        BUCKET,
        "imports/acme/team.csv",
        sequencer,
    )
    assert duplicates[0].levelno >= logging.INFO


def test_a_record_without_version_or_sequencer_falls_back_to_the_etag_with_a_warning(
    api: Api, client: Any, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    drop("old.csv", BODY)
    (event,) = _take(S3_EVENTS)
    notification = json.loads(event)
    del notification["Records"][0]["s3"]["object"]["sequencer"]  # as an old event or a test would
    with caplog.at_level(logging.INFO, logger="chalicelib.services.imports.intake"):
        _hand_over(client, S3_EVENTS, json.dumps(notification))
        _hand_over(client, S3_EVENTS, json.dumps(notification))
    deliver(client)
    assert len(_imports(api, admin)) == 1
    warnings = [r for r in caplog.records if "without versionId or sequencer" in r.getMessage()]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    assert [r for r in caplog.records if "duplicate S3 event" in r.getMessage()]


def test_the_event_record_carries_version_sequencer_and_time() -> None:
    seen: list[S3Object] = []
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-24T12:00:00.123Z",
        "s3": {
            "bucket": {"name": "b"},
            "object": {
                "key": "imports/acme/a.csv",
                "size": 3,
                "eTag": "e",
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }
    unversioned = json.loads(json.dumps(record))
    unversioned["s3"]["object"]["versionId"] = "null"  # suspended versioning: not an identity
    versioned = json.loads(json.dumps(record))
    versioned["s3"]["object"]["versionId"] = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
    real = s3_events.PROCESSORS.get("imports/")
    s3_events.PROCESSORS["imports/"] = seen.append
    try:
        for given in (record, unversioned, versioned):
            s3_events.handle_message(json.dumps({"Records": [given]}))
    finally:
        if real is not None:
            s3_events.PROCESSORS["imports/"] = real
    assert [(o.version_id, o.sequencer) for o in seen] == [
        (None, "0055AED6DCD90281E5"),
        (None, "0055AED6DCD90281E5"),
        ("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "0055AED6DCD90281E5"),
    ]
    assert seen[0].event_time is not None and seen[0].event_time.microsecond == 123000
    assert seen[0].event_time.utcoffset() == timedelta(0)


# --- objects replaced at their key ----------------------------------------------------------------


def test_on_a_versioned_bucket_each_drop_is_read_as_its_own_version(
    api: Api, client: Any, admin: str
) -> None:
    aws.s3().put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    drop("users.csv", BODY)
    drop("users.csv", BODY + "cy@acme.example,Cy\n", mode="update", **{"dry-run": "true"})
    deliver(client)  # both events after both PUTs: each reads its own version, metadata and bytes

    first, second = _imports(api, admin)
    assert (first["status"], first["mode"], first["dry_run"], first["counts"]["rows"]) == (
        "completed",
        "skip",
        False,
        2,
    )
    assert (second["status"], second["mode"], second["dry_run"], second["counts"]["rows"]) == (
        "completed",
        "update",
        True,
        3,
    )


def test_a_drop_replaced_before_its_event_is_handled_is_a_failed_import_not_a_silent_one(
    api: Api, client: Any, admin: str
) -> None:
    drop("users.csv", BODY, mode="update")
    drop("users.csv", "Email\ncy@acme.example\n")  # other bytes at the same key, before the first is read
    deliver(client)

    first, second = _imports(api, admin)
    assert first["status"] == "failed" and first["error"]["code"] == "object_replaced"
    assert "imports/acme/users.csv" in first["error"]["message"] and first["options"] == {}
    assert second["status"] == "completed" and second["counts"]["created"] == 1


def test_a_later_object_with_the_same_bytes_is_told_by_its_time(api: Api, client: Any, admin: str) -> None:
    """The same bytes put again a while later, both events handled after: the earlier event's
    object is gone (its metadata with it), as Last-Modified shows."""
    from chalicelib.bootstrap import services

    drop("users.csv", BODY)
    (event,) = _take(S3_EVENTS)
    stored = s3_events._parse_record(json.loads(event)["Records"][0])
    assert stored is not None and stored.event_time is not None
    earlier = S3Object(
        stored.bucket,
        stored.key,
        stored.size,
        stored.etag,
        stored.event_name,
        sequencer="0000000000000001",
        event_time=stored.event_time - timedelta(minutes=5),
    )
    services().imports.on_object(earlier)
    services().imports.on_object(stored)
    deliver(client)
    first, second = _imports(api, admin)
    assert (first["status"], first["error"]["code"]) == ("failed", "object_replaced")
    assert second["status"] == "completed"


def test_a_drop_replaced_while_it_is_imported_fails_cleanly_and_the_new_one_imports(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OC_IMPORT_CHUNK_ROWS", "1")
    monkeypatch.setenv("OC_IMPORT_STEP_SECONDS", "0")  # one chunk a step
    reset_settings()
    aws.ses().verify_email_identity(EmailAddress=get_settings().email_sender)
    drop("users.csv", BODY)
    (event,) = _take(S3_EVENTS)
    _hand_over(client, S3_EVENTS, event)
    (step,) = _take(JOBS)
    _hand_over(client, JOBS, step)  # the first row is read; the next step waits on the queue
    drop("users.csv", "Email\ncy@acme.example\n")
    deliver(client)

    first, second = _imports(api, admin)
    assert first["status"] == "failed" and first["error"]["code"] == "object_replaced"
    assert first["counts"]["created"] == 1  # the rows read before stand
    assert second["status"] == "completed" and second["counts"]["created"] == 1


# --- an upload's key ------------------------------------------------------------------------------


def test_a_second_put_to_an_uploads_url_is_refused_and_logged(
    api: Api, client: Any, admin: str, caplog: pytest.LogCaptureFixture
) -> None:
    started = start(api, admin, mode="skip")
    key = f"imports/acme/{started['import_id']}.csv"
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=BODY.encode())
    deliver(client)
    with caplog.at_level(logging.WARNING, logger="chalicelib.services.imports.intake"):
        aws.s3().put_object(Bucket=BUCKET, Key=key, Body=b"Email\ncy@acme.example\n")
        deliver(client)

    (only,) = _imports(api, admin)
    assert only["id"] == started["import_id"] and only["status"] == "completed"
    assert only["counts"]["created"] == 2
    refused = [r for r in caplog.records if "upload already has its file" in r.getMessage()]
    assert refused and refused[0].fields["import_id"] == started["import_id"]  # type: ignore[attr-defined]
    assert refused[0].fields["key"] == key  # type: ignore[attr-defined]


def test_an_upload_put_twice_before_it_is_read_imports_the_later_file(
    api: Api, client: Any, admin: str
) -> None:
    started = start(api, admin)
    key = f"imports/acme/{started['import_id']}.csv"
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=BODY.encode())
    aws.s3().put_object(Bucket=BUCKET, Key=key, Body=b"Email\ncy@acme.example\n")
    deliver(client)

    (only,) = _imports(api, admin)
    assert only["id"] == started["import_id"] and only["status"] == "completed"
    assert [r["email"] for r in report_rows(only)] == ["cy@acme.example"]
