"""End to end against `make run`'s runner (moto server patched by localdev/emulator.py, the pump,
the handlers): the same bytes dropped twice at one key are two imports, each with the options of
its own drop; an S3 event delivered again is one import, and the runner logs the duplicate.

To hold an S3 event as the pump received it, the test adds a queue of its own to the bucket's
notifications for its key (S3 sends one event, with one sequencer, to every matching
configuration) and puts the configuration back afterwards."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import Runner, admin_headers

pytestmark = pytest.mark.e2e

BUCKET = "office-chat-files"
S3_EVENTS_QUEUE = "office-chat-s3-events"
TIMEOUT_SECONDS = 60
BODY = b"Email,First Name\r\n"


def _client(runner: Runner, service: str) -> Any:
    session: Any = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client(service, endpoint_url=f"http://127.0.0.1:{runner.aws_port}")


def _imports_of(runner: Runner, admin: dict[str, str], key: str) -> list[dict[str, Any]]:
    """The imports of the key, oldest first, with their details."""
    answer = requests.get(f"{runner.url}/admin/imports?limit=200", headers=admin, timeout=10)
    assert answer.status_code == 200, answer.text
    mine = [item for item in answer.json()["items"] if item["file"] == key]
    details = [requests.get(f"{runner.url}/admin/imports/{i['id']}", headers=admin, timeout=10) for i in mine]
    return [d.json() for d in reversed(details)]


def _wait_for_finished(runner: Runner, admin: dict[str, str], key: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        found = _imports_of(runner, admin, key)
        if len(found) >= count and all(i["status"] in ("completed", "failed") for i in found):
            return found
        assert time.monotonic() < deadline, f"{count} finished imports of {key} never showed: {found}"
        time.sleep(0.3)


class _Capture:
    """A queue of the test's own that hears the bucket's ObjectCreated events under a prefix."""

    def __init__(self, runner: Runner, prefix: str) -> None:
        self.s3, self.sqs = _client(runner, "s3"), _client(runner, "sqs")
        self.url = self.sqs.create_queue(QueueName=f"e2e-capture-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]
        self.saved = self.s3.get_bucket_notification_configuration(Bucket=BUCKET)
        self.saved.pop("ResponseMetadata", None)
        mine = {
            "QueueArn": arn["QueueArn"],
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
        }
        config = {**self.saved, "QueueConfigurations": [*self.saved.get("QueueConfigurations", []), mine]}
        self.s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=config)

    def restore(self) -> None:
        self.s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration=self.saved)
        self.sqs.delete_queue(QueueUrl=self.url)

    def events(self) -> list[str]:
        bodies: list[str] = []
        while batch := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            bodies += [m["Body"] for m in batch if "s3:TestEvent" not in m["Body"]]
            for message in batch:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return bodies


def test_a_redrop_is_a_new_import_and_a_redelivered_event_is_a_logged_duplicate(runner: Runner) -> None:
    admin = admin_headers(runner)
    tag = uuid.uuid4().hex[:8]
    key = f"imports/demo/e2e-identity-{tag}.csv"
    body = BODY + f"idn-{tag}-ann@demo.local,Ann\r\n".encode()
    capture = _Capture(runner, key)
    try:
        s3 = _client(runner, "s3")
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/csv", Metadata={"mode": "skip"})
        (first,) = _wait_for_finished(runner, admin, key, 1)
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/csv", Metadata={"mode": "update"})
        found = _wait_for_finished(runner, admin, key, 2)
        events = capture.events()
    finally:
        capture.restore()

    assert [i["id"] for i in found][:1] == [first["id"]] and len(found) == 2
    assert [(i["status"], i["source"], i["mode"]) for i in found] == [
        ("completed", "drop", "skip"),
        ("completed", "drop", "update"),
    ]
    assert (found[0]["counts"]["created"], found[1]["counts"]["skipped"]) == (1, 1)
    assert len(events) == 2
    records = [json.loads(e)["Records"][0]["s3"]["object"] for e in events]
    assert records[0]["eTag"] == records[1]["eTag"] and records[0]["sequencer"] < records[1]["sequencer"]

    # SQS delivers the first drop's event again
    sqs = _client(runner, "sqs")
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=S3_EVENTS_QUEUE)["QueueUrl"], MessageBody=events[0])
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        logged = [
            json.loads(line)
            for line in runner.output().splitlines()
            if line.startswith("{") and "duplicate S3 event" in line and first["id"] in line
        ]
        if logged:
            break
        assert time.monotonic() < deadline, "the runner never logged the duplicate"
        time.sleep(0.3)
    assert (logged[-1]["key"], logged[-1]["sequencer"]) == (key, records[0]["sequencer"])
    assert logged[-1]["duplicate_of"] == first["id"]
    time.sleep(1)  # a third import would show by now
    assert [i["id"] for i in _imports_of(runner, admin, key)] == [i["id"] for i in found]
