"""End to end over real HTTP against `make run`'s runner (moto server): bulk user import from CSV
(API.md §7) both ways in. (a) An admin starts an import, PUTs the file to the presigned URL and
follows it to the end: counts, users, the report, the admin's summary email. (b) An operator drops
a file into the bucket with boto3, its options in the object's metadata: the import is listed,
existing users updated, and each new user gets an invitation (an SES bulk templated email)
whose link works.

Every email address and file name carries a fresh tag, and the names are ones no other test
searches for (test_users_e2e lists `q=eve`): the tests share the demo domain with the other e2e
tests, and may run again against the same runner."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import Runner, admin_headers, emails_sent

pytestmark = pytest.mark.e2e

BUCKET = "office-chat-files"
DEMO_ADMIN = "admin@demo.local"
INVITATION_TEMPLATE = "office-chat-invitation"
TIMEOUT_SECONDS = 60


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _get(runner: Runner, path: str, headers: dict[str, str]) -> Any:
    answer = requests.get(f"{runner.url}{path}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait_until_finished(runner: Runner, admin: dict[str, str], import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        details: dict[str, Any] = _get(runner, f"/admin/imports/{import_id}", admin)
        if details["status"] in ("completed", "failed"):
            return details
        assert time.monotonic() < deadline, f"the import did not finish: {details}"
        time.sleep(0.3)


def _counts(**nonzero: int) -> dict[str, int]:
    names = ("rows", "created", "updated", "skipped", "activated", "deactivated", "failed")
    return {name: nonzero.get(name, 0) for name in names}


def _user(runner: Runner, admin: dict[str, str], email: str) -> dict[str, Any]:
    found = _get(runner, f"/admin/users?q={email}", admin)["items"]
    assert [u["email"] for u in found] == [email], found
    return dict(found[0])


def _emulator_data(runner: Runner) -> dict[str, Any]:
    """moto server's /moto-api/data.json. moto 5.2 answers it 500 once after a multipart upload
    (how an import joins a report of 5 MiB or more; another test or a bench may run one):
    reading the parts' restore status looks up their bucket, which they have none of; the
    failed read moves them on, so the next read answers."""
    url = f"http://127.0.0.1:{runner.aws_port}/moto-api/data.json"
    for _ in range(5):
        answer = requests.get(url, timeout=10)
        if answer.status_code == 200:
            return dict(answer.json())
    raise AssertionError(f"the emulator's data.json kept failing: {answer.status_code}")


def _mails_about(runner: Runner, file_name: str, to: str = DEMO_ADMIN) -> list[dict[str, Any]]:
    _emulator_data(runner)  # gets past the 500 described there, so that emails_sent can read it
    return [
        m
        for m in emails_sent(runner)
        if file_name in m["subject"] and to in m["destinations"].get("ToAddresses", [])
    ]


def _invitations(runner: Runner) -> list[tuple[str, dict[str, str]]]:
    """(address, template data) of every destination of the invitation template SES received.

    moto server keeps a SendBulkTemplatedEmail under `ses.BulkTemplateMessage` (and the same
    call again under `ses.TemplateMessage`), unrendered: {template, source, template_data,
    destinations: [{Destination: {ToAddresses}, ReplacementTemplateData}], ids}."""
    ses = _emulator_data(runner).get("ses", {})
    messages = ses.get("BulkTemplateMessage") or ses.get("TemplateMessage") or []
    found = []
    for message in messages:
        if message.get("template") != INVITATION_TEMPLATE:
            continue
        for destination in message["destinations"]:
            fields = json.loads(destination.get("ReplacementTemplateData") or message["template_data"])
            found += [(to, fields) for to in destination["Destination"]["ToAddresses"]]
    return found


def _drop(runner: Runner, key: str, body: bytes, metadata: dict[str, str]) -> None:
    """An operator's drop: boto3 against the emulator, as `aws s3 cp --metadata` would."""
    s3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=f"http://127.0.0.1:{runner.aws_port}")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="text/csv", Metadata=metadata)


def _wait_for_the_drop(runner: Runner, admin: dict[str, str], name: str) -> dict[str, Any]:
    """The finished import of a dropped file, found in the domain's list (newest first)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        listed = _get(runner, "/admin/imports", admin)["items"]
        mine = [item for item in listed if item["file"].endswith(f"/{name}")]
        if mine and mine[0]["status"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, f"no finished import of {name}: {listed[:3]}"
        time.sleep(0.3)
    assert len(mine) == 1, mine  # the object was imported once
    return dict(_get(runner, f"/admin/imports/{mine[0]['id']}", admin))


def _wait_for_invitations(
    runner: Runner, emails: tuple[str, ...], expected: int
) -> list[tuple[str, dict[str, str]]]:
    """The invitations go out as the import creates the users, chunk by chunk."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while len([to for to, _ in _invitations(runner) if to in emails]) < expected:
        assert time.monotonic() < deadline, f"the invitations did not arrive: {_invitations(runner)[-5:]}"
        time.sleep(0.3)
    time.sleep(1)  # a duplicate would come right after
    return [(to, fields) for to, fields in _invitations(runner) if to in emails]


def test_an_admin_uploads_a_csv_through_the_presigned_url(runner: Runner) -> None:
    admin = admin_headers(runner)
    tag = _tag()
    ann, bo, cy = (f"imp-{tag}-{name}@demo.local" for name in ("ann", "bo", "cy"))
    body = (
        "Email,First Name,Last Name,Job Title,Enabled\r\n"
        f"{ann},Anouk,Archambault,Nurse,TRUE\r\n"
        f"{bo},Bertil,Brandvold,,\r\n"
        "not-an-email,Nils,Nemo,,\r\n"
        f"{ann.upper()},Anouk,Again,,\r\n"  # the same email (case does not count): the first row wins
        f"{cy},Casimir,Coldwell,,FALSE\r\n"  # FALSE never creates a user
    ).encode()

    started = requests.post(
        f"{runner.url}/admin/imports",
        headers=admin,
        timeout=10,
        json={"mode": "skip", "send_invites": False},
    )
    assert started.status_code == 201, started.text
    ticket = started.json()
    import_id = ticket["import_id"]
    assert ticket["method"] == "PUT" and ticket["headers"] == {"Content-Type": "text/csv"}
    assert ticket["import"]["status"] == "pending" and ticket["import"]["requested_by"] == DEMO_ADMIN
    assert ticket["import"]["file"] == f"imports/demo/{import_id}.csv"

    # requests, with the signed Content-Type (urllib's default type would store the object empty)
    put = requests.put(ticket["upload_url"], data=body, headers=ticket["headers"], timeout=10)
    assert put.status_code == 200, put.text

    details = _wait_until_finished(runner, admin, import_id)
    assert details["status"] == "completed", details
    assert (details["source"], details["mode"], details["dry_run"]) == ("upload", "skip", False)
    assert details["counts"] == _counts(rows=5, created=2, skipped=1, failed=2)
    assert [(e["line"], e["code"]) for e in details["errors"]] == [
        (4, "invalid_email"),
        (5, "duplicate_email"),
    ]
    assert details["invited"] is False and details["finished_at"]

    created = _user(runner, admin, ann)
    assert (created["status"], created["first_name"], created["last_name"], created["title"]) == (
        "invited",
        "Anouk",
        "Archambault",
        "Nurse",
    )
    assert _user(runner, admin, bo)["status"] == "invited"
    assert _get(runner, f"/admin/users?q={cy}", admin)["items"] == []

    report = requests.get(details["report_url"], timeout=10)
    assert report.status_code == 200, report.text
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8"))))
    assert list(rows[0]) == ["line", "email", "outcome", "reason"]
    assert [(r["line"], r["email"], r["outcome"], r["reason"]) for r in rows] == [
        ("2", ann, "created", ""),
        ("3", bo, "created", ""),
        ("4", "not-an-email", "failed", 'The Email field "not-an-email" is not an email address.'),
        ("5", ann.upper(), "failed", f"{ann} is already on line 2; the first row wins."),  # as given
        ("6", cy, "skipped", "Enabled is FALSE, which never creates a user"),
    ]

    file_name = f"{import_id}.csv"
    mails = _mails_about(runner, file_name)
    assert len(mails) == 1, mails
    assert mails[0]["subject"] == f"Import of {file_name}: 2 created, 2 failed"
    assert f"/admin/imports/{import_id}/invite" in mails[0]["body"]
    assert mails[0]["subject"] in runner.output()  # the runner printed it too
    assert not [to for to, _ in _invitations(runner) if to in (ann, bo)]  # no invitations asked for


def test_an_operator_drop_updates_and_invites(runner: Runner) -> None:
    admin = admin_headers(runner)
    tag = _tag()
    dee, elo, fay = (f"imp-{tag}-{name}@demo.local" for name in ("dee", "elo", "fay"))
    existing = requests.post(
        f"{runner.url}/admin/users",
        headers=admin,
        timeout=10,
        json={"email": dee, "first_name": "Dagny", "last_name": "Dunmore", "title": "Clerk"},
    )
    assert existing.status_code == 201, existing.text
    name = f"e2e-drop-{tag}.csv"
    key = f"imports/demo/{name}"
    body = (
        "E-mail;Job Title;Role;Full Name\n"  # semicolons; headings by their aliases
        f"{dee};Chief;;\n"
        f"{elo};Intern;;Elodie Eastwick\n"
        f"{fay};;guest;Fenna Foxley\n"
    ).encode()

    _drop(runner, key, body, {"mode": "update", "send-invites": "true"})

    details = _wait_for_the_drop(runner, admin, name)
    assert details["status"] == "completed", details
    assert details["file"] == key
    assert (details["source"], details["mode"], details["send_invites"]) == ("drop", "update", True)
    assert details["requested_by"] is None  # no requested-by metadata: every admin hears of it
    assert details["counts"] == _counts(rows=3, created=2, updated=1)
    assert details["errors"] == []
    assert details["invited"] is True

    updated = _user(runner, admin, dee)
    assert (updated["id"], updated["title"], updated["status"]) == (existing.json()["id"], "Chief", "invited")
    guest = _user(runner, admin, fay)
    assert (guest["status"], guest["role"], guest["first_name"], guest["last_name"]) == (
        "invited",
        "guest",
        "Fenna",
        "Foxley",
    )
    assert _user(runner, admin, elo)["title"] == "Intern"

    mails = _mails_about(runner, name)
    assert len(mails) == 1, mails
    assert mails[0]["subject"] == f"Import of {name}: 2 created, 0 failed"
    assert "Invitations were emailed to the 2 new users" in mails[0]["body"]

    invited = _wait_for_invitations(runner, (dee, elo, fay), expected=2)
    assert sorted(to for to, _ in invited) == [elo, fay]  # only the users the import created
    links = {to: fields["link"] for to, fields in invited}
    assert all(link.startswith(f"{runner.url}/accept-invite?token=") for link in links.values())
    assert dict(invited)[elo]["name"] == "Elodie" and dict(invited)[elo]["domain"] == "demo"
    assert elo in runner.output() and links[elo] in runner.output()  # printed by the runner

    accepted = requests.post(
        f"{runner.url}/auth/accept-invite",
        timeout=10,
        json={"token": links[elo].split("token=", 1)[1], "password": "an imported passphrase"},
    )
    assert accepted.status_code == 200, accepted.text
    assert _user(runner, admin, elo)["status"] == "active"

    again = requests.post(f"{runner.url}/admin/imports/{details['id']}/invite", headers=admin, timeout=10)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_invited"
