"""§8 Reporting a problem over HTTP, with the upload's S3 event through on_s3_event: the report,
its presigned upload, the two emails (once, even when the event comes twice), a report without
logs, a rejected upload, the hourly limit, and who may read a report."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
import requests

from chalicelib.core import aws
from chalicelib.core.clock import FixedClock
from tests.conftest import Api, error_of
from tests.integration.factories import sent_emails
from tests.integration.tenancy_content import sign_in

S3_EVENTS = "office-chat-s3-events"
REPORT = {
    "description": "The app freezes when I open a chat.",
    "platform": "android",
    "app_version": "3.2.1",
    "reporting_level": "errors",
}


@pytest.fixture(autouse=True)
def support_address(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core.config import reset_settings

    monkeypatch.setenv("SUPPORT_EMAIL", "support@office-chat.test")
    reset_settings()


@pytest.fixture
def user(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    api.admin_token("acme")
    return sign_in(api, "acme", "mo@acme.example")[1]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.log", "12:00:01 ERROR chat view froze\n")
    return buffer.getvalue()


def _report(api: Api, token: str) -> dict[str, Any]:
    created = api.call("POST", "/support/reports", REPORT, token=token)
    assert created.status_code == 201, created.body
    return dict(created.json_body)


def _upload(report: dict[str, Any], data: bytes) -> None:
    put = requests.put(report["upload_url"], data=data, headers=report["headers"], timeout=10)
    assert put.status_code == 200, put.text


def _deliver(client: Any, times: int = 2) -> int:
    """Every S3 event on the queue to on_s3_event, each `times` times (at least once)."""
    url = aws.sqs().get_queue_url(QueueName=S3_EVENTS)["QueueUrl"]
    delivered = 0
    while True:
        batch = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return delivered
        for message in batch:
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if "s3:TestEvent" in message["Body"]:
                continue
            event = client.events.generate_sqs_event(message_bodies=[message["Body"]], queue_name=S3_EVENTS)
            for _ in range(times):
                client.lambda_.invoke("on_s3_event", event)
            delivered += 1


def _mails(to: str) -> list[dict[str, Any]]:
    return [m for m in sent_emails() if to in m["to"]]


def test_a_report_with_logs_emails_support_and_the_user_once(api: Api, client: Any, user: str) -> None:
    report = _report(api, user)
    assert report["method"] == "PUT" and report["headers"] == {"Content-Type": "application/zip"}
    assert report["report"]["status"] == "awaiting_logs"
    logs = _zip()
    _upload(report, logs)
    assert _deliver(client, times=2) == 1  # the event delivered twice
    support = _mails("support@office-chat.test")
    assert len(support) == 1
    body = support[0]["body"]
    for shown in (
        "mo@acme.example",
        "domain acme",
        "Platform: android",
        "App version: 3.2.1",
        "Reporting level: errors",
    ):
        assert shown in body, (shown, body)
    link = re.search(r"for 7 days: (\S+)", body)
    assert link is not None and "X-Amz-Expires=604800" in link.group(1)
    assert requests.get(link.group(1), timeout=10).content == logs
    confirmation = _mails("mo@acme.example")
    assert (
        len(confirmation) == 1 and "We received your problem report and its logs" in confirmation[0]["body"]
    )
    read = api.call("GET", f"/support/reports/{report['report_id']}", token=user).json_body
    assert read["status"] == "received" and read["logs"] == {"size": len(logs)}


def test_a_report_without_logs_is_sent_once(api: Api, user: str) -> None:
    report = _report(api, user)
    sent = api.call("POST", f"/support/reports/{report['report_id']}/submit", token=user)
    assert sent.status_code == 200 and sent.json_body["status"] == "submitted"
    again = api.call("POST", f"/support/reports/{report['report_id']}/submit", token=user)
    assert error_of(again) == (409, "report_already_sent")
    support = _mails("support@office-chat.test")
    assert len(support) == 1 and "No logs were attached." in support[0]["body"]
    assert len(_mails("mo@acme.example")) == 1


def test_an_upload_that_is_not_a_zip_is_rejected_and_support_told(api: Api, client: Any, user: str) -> None:
    report = _report(api, user)
    _upload(report, b"this is not a zip")
    _deliver(client)
    read = api.call("GET", f"/support/reports/{report['report_id']}", token=user).json_body
    assert read["status"] == "rejected" and read["rejected_reason"] == "the file is not a zip archive"
    support = _mails("support@office-chat.test")
    assert len(support) == 1 and "logs rejected" in support[0]["subject"]
    assert _mails("mo@acme.example") == []
    key = f"reports/acme/{report['report_id']}/logs.zip"
    listed = aws.s3().list_objects_v2(Bucket="office-chat-files", Prefix=key).get("KeyCount", 0)
    assert listed == 0  # the rejected upload is not kept


def test_bad_fields_and_the_hourly_limit(api: Api, user: str, clock: FixedClock) -> None:
    for field, value in (
        ("platform", "beos"),
        ("reporting_level", "loud"),
        ("description", ""),
        ("app_version", 3),
    ):
        response = api.call("POST", "/support/reports", {**REPORT, field: value}, token=user)
        assert error_of(response)[0] == 400, (field, response.body)
    assert error_of(api.call("POST", "/support/reports", {**REPORT, "email": "x"}, token=user)) == (
        400,
        "unknown_field",
    )
    for _ in range(10):
        assert api.call("POST", "/support/reports", REPORT, token=user).status_code == 201
    refused = api.call("POST", "/support/reports", REPORT, token=user)
    assert error_of(refused) == (429, "rate_limited") and int(refused.headers["Retry-After"]) > 0
    clock.advance(hours=1)
    assert api.call("POST", "/support/reports", REPORT, token=user).status_code == 201


def test_a_report_is_its_reporters_alone(api: Api, user: str) -> None:
    report = _report(api, user)
    _, other = sign_in(api, "acme", "ann@acme.example")
    path = f"/support/reports/{report['report_id']}"
    assert error_of(api.call("GET", path, token=other)) == (404, "report_not_found")
    assert error_of(api.call("POST", f"{path}/submit", token=other)) == (404, "report_not_found")
    assert error_of(api.call("GET", "/support/reports/nope", token=user)) == (404, "report_not_found")
    assert json.loads(json.dumps(api.call("GET", path, token=user).json_body))["status"] == "awaiting_logs"
