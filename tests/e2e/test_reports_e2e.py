"""End to end against `make run`'s runner, over HTTP: a user reports a problem and uploads the
app's logs (a zip) to the presigned URL; the upload's S3 event goes through the pump to the
handler, and support and the user are emailed (read off the runner's mailbox, as a person
would). A non-zip upload is rejected and only support is told. And the operator suspends a
domain, resumes it, suspends it again and deletes it (a platform job), then provisions the
name again: logins and earlier tokens follow."""

from __future__ import annotations

import io
import re
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import PLATFORM_KEY, Runner, admin_headers

pytestmark = pytest.mark.e2e

RULE = "-" * 72
STATUS_SECONDS = 20
MAIL_SECONDS = 20
SETTLE_SECONDS = 1.0  # a duplicate (a second delivery of the S3 event) would come right after
DEFAULT_SUPPORT_EMAIL = "support@office-chat.local"


# --- the runner's mailbox --------------------------------------------------------------------


def _mailbox(runner: Runner) -> Path:
    return Path(runner.env["OC_RUN_DIR"]) / "mailbox.txt"


def _emails(runner: Runner, to: str, containing: str = "") -> list[str]:
    """Every printed email to `to` (from `EMAIL to:` to its closing rule) containing `containing`."""
    path = _mailbox(runner)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    blocks = (block.strip() for block in text.split(RULE))
    return [block for block in blocks if block.startswith(f"EMAIL to: {to}\n") and containing in block]


def _the_email(runner: Runner, to: str, containing: str) -> str:
    """The one email to `to` containing `containing`: waits for it, then checks no second one came."""
    deadline = time.monotonic() + MAIL_SECONDS
    while not _emails(runner, to, containing):
        assert time.monotonic() < deadline, (
            f"no email to {to} with {containing!r}:\n{runner.output()[-3000:]}"
        )
        time.sleep(0.2)
    time.sleep(SETTLE_SECONDS)
    found = _emails(runner, to, containing)
    assert len(found) == 1, found
    assert found[0] in runner.output()  # printed on the console too, as it is in the mailbox
    return found[0]


def _support_email(runner: Runner) -> str:
    return runner.env.get("SUPPORT_EMAIL", "").strip() or DEFAULT_SUPPORT_EMAIL


# --- a member of the demo domain -------------------------------------------------------------


def _member(runner: Runner, first_name: str, last_name: str) -> tuple[str, dict[str, str]]:
    """A new user of the demo domain, invited by the demo admin and accepted from the printed
    invitation's link: (email, Authorization header)."""
    email = f"e2e-report-{uuid.uuid4().hex[:8]}@demo.local"
    created = requests.post(
        f"{runner.url}/admin/users",
        headers=admin_headers(runner),
        timeout=10,
        json={"email": email, "first_name": first_name, "last_name": last_name, "send_invite": True},
    )
    assert created.status_code == 201, created.text
    invitation = _the_email(runner, email, "accept-invite?token=")
    token = re.search(r"accept-invite\?token=(\S+)", invitation)
    assert token, invitation
    accepted = requests.post(
        f"{runner.url}/auth/accept-invite",
        timeout=10,
        json={"token": token.group(1), "password": "a reporter's own passphrase"},
    )
    assert accepted.status_code == 200, accepted.text
    return email, {"Authorization": f"Bearer {accepted.json()['token']}"}


def _new_report(runner: Runner, user: dict[str, str], description: str) -> dict[str, Any]:
    created = requests.post(
        f"{runner.url}/support/reports",
        headers=user,
        timeout=10,
        json={
            "description": description,
            "platform": "android",
            "app_version": "3.2.1",
            "reporting_level": "errors",
        },
    )
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    assert answer["method"] == "PUT"
    assert answer["headers"] == {"Content-Type": "application/zip"}
    assert answer["expires_at"] and answer["upload_url"].startswith(f"http://127.0.0.1:{runner.aws_port}/")
    report = answer["report"]
    assert report["id"] == answer["report_id"] and report["status"] == "awaiting_logs"
    assert (report["platform"], report["app_version"], report["reporting_level"]) == (
        "android",
        "3.2.1",
        "errors",
    )
    assert report["description"] == description and report["logs"] is None
    return answer


def _upload(answer: dict[str, Any], body: bytes) -> None:
    put = requests.put(answer["upload_url"], data=body, headers=answer["headers"], timeout=10)
    assert put.status_code == 200, put.text


def _report_once(runner: Runner, user: dict[str, str], report_id: str, status: str) -> dict[str, Any]:
    """Polls the report until it has `status` (the S3 event went through the pump)."""
    deadline = time.monotonic() + STATUS_SECONDS
    while True:
        got = requests.get(f"{runner.url}/support/reports/{report_id}", headers=user, timeout=10)
        assert got.status_code == 200, got.text
        report: dict[str, Any] = got.json()
        if report["status"] == status:
            return report
        assert report["status"] == "awaiting_logs", report
        assert time.monotonic() < deadline, (
            f"the report stayed {report['status']}:\n{runner.output()[-3000:]}"
        )
        time.sleep(0.2)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.log", "2024-05-01 12:00:00 ERROR the chat list did not load\n" * 50)
        archive.writestr("device.json", '{"model": "Pixel 8", "os": "Android 14"}')
    return buffer.getvalue()


# --- the tests -------------------------------------------------------------------------------


def test_a_report_with_its_logs_reaches_support_and_the_user(runner: Runner) -> None:
    email, user = _member(runner, "Rhea", "Porter")
    answer = _new_report(runner, user, "The chat list stays empty after an update.")
    report_id = answer["report_id"]
    logs = _zip()
    _upload(answer, logs)

    report = _report_once(runner, user, report_id, "received")
    assert report["logs"] == {"size": len(logs)} and report["rejected_reason"] is None

    support = _the_email(runner, _support_email(runner), report_id)
    lines = support.splitlines()
    assert lines[1] == f"subject: Problem report from {email} (demo), with logs", support
    assert f"Report {report_id} from Rhea Porter <{email}>, domain demo." in lines, support
    for line in ("Platform: android", "App version: 3.2.1", "Reporting level: errors"):
        assert line in lines, support
    assert "The chat list stays empty after an update." in lines, support
    link = re.search(rf"^Logs \({len(logs)} bytes\), for 7 days: (\S+)$", support, re.MULTILINE)
    assert link, support
    assert link.group(1).startswith(f"http://127.0.0.1:{runner.aws_port}/"), link.group(1)  # the emulator
    downloaded = requests.get(link.group(1), timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == logs
    assert zipfile.ZipFile(io.BytesIO(downloaded.content)).namelist() == ["app.log", "device.json"]

    confirmation = _the_email(runner, email, report_id)
    assert confirmation.splitlines()[1] == "subject: We received your problem report", confirmation
    assert "We received your problem report and its logs" in confirmation
    assert "Hello Rhea Porter," in confirmation
    # The report is done: its logs link is the only upload it takes.
    again = requests.post(f"{runner.url}/support/reports/{report_id}/submit", headers=user, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "report_already_sent"


def test_an_upload_that_is_not_a_zip_is_rejected_and_only_support_is_told(runner: Runner) -> None:
    email, user = _member(runner, "Nils", "Ziplos")
    answer = _new_report(runner, user, "Sent a text file by mistake.")
    report_id = answer["report_id"]
    _upload(answer, b"these are not the logs you are looking for\n")

    report = _report_once(runner, user, report_id, "rejected")
    assert report["rejected_reason"] == "the file is not a zip archive", report

    support = _the_email(runner, _support_email(runner), report_id)
    assert support.splitlines()[1] == f"subject: Problem report from {email} (demo): logs rejected", support
    assert "The uploaded logs were rejected: the file is not a zip archive." in support
    assert "Logs (" not in support  # no link to what was not a zip
    assert _emails(runner, email, report_id) == []
    assert _emails(runner, email, "We received") == []  # only the invitation ever went to the user


def test_suspend_log_in_resume_suspend_delete_and_provision_again(runner: Runner) -> None:
    platform = {"X-Platform-Key": PLATFORM_KEY}
    name, admin_email, password = "e2e-lifecycle", "ada@e2e-lifecycle.example", "ada's long passphrase"
    provisioned_with = {
        "domain": name,
        "plan": "business",
        "billing": "monthly",
        "seats": 5,
        "hipaa": False,
        "admin": {"email": admin_email, "first_name": "Ada", "last_name": "Lind", "password": password},
    }
    provisioned = requests.post(
        f"{runner.url}/platform/domains", headers=platform, timeout=10, json=provisioned_with
    )
    assert provisioned.status_code == 201, provisioned.text
    assert provisioned.json()["domain"] == name and provisioned.json()["status"] == "active"

    def login() -> requests.Response:
        credentials = {"domain": name, "email": admin_email, "password": password}
        return requests.post(f"{runner.url}/auth/login", timeout=10, json=credentials)

    def me(token: str) -> requests.Response:
        return requests.get(f"{runner.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def set_status(action: str, status: str) -> None:
        answer = requests.post(f"{runner.url}/platform/domains/{name}/{action}", headers=platform, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["domain"] == name and answer.json()["status"] == status, answer.text
        shown = requests.get(f"{runner.url}/platform/domains/{name}", headers=platform, timeout=10)
        assert shown.json()["status"] == status, shown.text

    def refused(answer: requests.Response) -> None:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "domain_suspended", answer.text

    first = login()
    assert first.status_code == 200 and first.json()["status"] == "ok", first.text
    token = first.json()["token"]
    assert me(token).status_code == 200

    set_status("suspend", "suspended")
    refused(login())
    refused(me(token))

    set_status("resume", "active")
    assert me(token).status_code == 200  # the earlier token works again
    again = login()
    assert again.status_code == 200 and again.json()["status"] == "ok", again.text
    assert me(again.json()["token"]).json()["domain"] == name

    set_status("suspend", "suspended")
    refused(login())
    refused(me(token))

    # the seed's last BAA step: the old domain is deleted once the move is complete
    deleted = requests.delete(f"{runner.url}/platform/domains/{name}", headers=platform, timeout=10)
    assert deleted.status_code == 202, deleted.text
    job = _finished_platform_job(runner, deleted.json()["job_id"])
    assert job["status"] == "succeeded" and job["kind"] == "domain.delete", job
    assert job["progress"]["done"] == job["progress"]["total"] > 0, job
    gone = requests.get(f"{runner.url}/platform/domains/{name}", headers=platform, timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "domain_not_found", gone.text
    assert login().status_code == 401  # no domain of that name: a sign-in finds nothing

    again = requests.post(
        f"{runner.url}/platform/domains", headers=platform, timeout=10, json=provisioned_with
    )
    assert again.status_code == 201, again.text  # the name is free again, and holds nothing old
    fresh = login()
    assert fresh.status_code == 200, fresh.text
    audit = requests.get(
        f"{runner.url}/admin/audit", headers={"Authorization": f"Bearer {fresh.json()['token']}"}, timeout=10
    )
    assert [e["action"] for e in audit.json()["items"]] == ["domain.provisioned"], audit.text
    refused_old = me(token)
    assert refused_old.status_code == 401, refused_old.text  # the old domain's tokens died with it


def _finished_platform_job(runner: Runner, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + STATUS_SECONDS * 3
    while True:
        answer = requests.get(
            f"{runner.url}/platform/jobs/{job_id}", headers={"X-Platform-Key": PLATFORM_KEY}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, (job, runner.output()[-3000:])
        time.sleep(0.3)
