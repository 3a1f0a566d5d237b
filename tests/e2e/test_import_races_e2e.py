"""End to end over real HTTP against `make run`'s runner, whose pump delivers each queue's
messages several at a time as Lambda does: two imports of the same 1 000-row file run at the
same moment while an admin adds some of the file's users by hand. Every email ends with exactly
one user, the hand-made users keep their ids and passwords, and seats used equals the users.

The test provisions a domain of its own (a fresh name each run), so it shares nothing with the
other e2e tests that use the demo domain."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest
import requests

from tests.e2e.conftest import PLATFORM_KEY, Runner, emails_sent

pytestmark = pytest.mark.e2e

BUCKET = "office-chat-files"
ROWS = 1000
PASSWORD = "a hand-made passphrase"
TIMEOUT_SECONDS = 180


def _provision(runner: Runner, domain: str) -> dict[str, str]:
    made = requests.post(
        f"{runner.url}/platform/domains",
        headers={"X-Platform-Key": PLATFORM_KEY},
        timeout=10,
        json={
            "domain": domain,
            "plan": "business",
            "billing": "monthly",
            "seats": 2 * ROWS,
            "hipaa": False,
            "admin": {
                "email": f"admin@{domain}.example",
                "first_name": "Ra",
                "last_name": "Ce",
                "password": PASSWORD,
            },
        },
    )
    assert made.status_code == 201, made.text
    login = requests.post(
        f"{runner.url}/auth/login",
        timeout=10,
        json={"domain": domain, "email": f"admin@{domain}.example", "password": PASSWORD, "client": "web"},
    )
    return {"Authorization": f"Bearer {login.json()['token']}"}


def _email(domain: str, n: int) -> str:
    return f"row{n:04d}@{domain}.example"


def _add_user(runner: Runner, admin: dict[str, str], email: str, invite: bool = False) -> requests.Response:
    return requests.post(
        f"{runner.url}/admin/users",
        headers=admin,
        timeout=10,
        json={"email": email, "first_name": "Hand", "last_name": "Made", "send_invite": invite},
    )


def _with_password(runner: Runner, admin: dict[str, str], email: str) -> str:
    """A user made by hand who has accepted the invitation: a password is set."""
    made = _add_user(runner, admin, email, invite=True)
    assert made.status_code == 201, made.text
    mail = [m for m in emails_sent(runner) if email in str(m)][-1]
    token = re.search(r"accept-invite\?token=(\S+)", str(mail["body"]))
    assert token, mail
    accepted = requests.post(
        f"{runner.url}/auth/accept-invite", timeout=10, json={"token": token.group(1), "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    return str(made.json()["id"])


def _all_users(runner: Runner, admin: dict[str, str]) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{runner.url}/admin/users", headers=admin, params=params, timeout=30).json()
        users += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return users


def _imports_finished(runner: Runner, admin: dict[str, str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        items = requests.get(f"{runner.url}/admin/imports", headers=admin, timeout=10).json()["items"]
        if len(items) == 2 and all(i["status"] in ("completed", "failed") for i in items):
            return [
                requests.get(f"{runner.url}/admin/imports/{i['id']}", headers=admin, timeout=10).json()
                for i in items
            ]
        assert time.monotonic() < deadline, f"the imports did not finish: {items}"
        time.sleep(0.5)


def test_two_imports_of_one_file_and_an_admin_at_the_same_moment(runner: Runner) -> None:
    domain = f"race-{uuid.uuid4().hex[:8]}"
    admin = _provision(runner, domain)
    with_password = {
        _email(domain, n): _with_password(runner, admin, _email(domain, n)) for n in (3, 512, 997)
    }
    body = "Email,First Name,Last Name\n" + "".join(f"{_email(domain, n)},File,Row{n}\n" for n in range(ROWS))
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{runner.aws_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    made_meanwhile: dict[str, str] = {}

    def drop(name: str, mode: str) -> None:
        s3.put_object(
            Bucket=BUCKET, Key=f"imports/{domain}/{name}", Body=body.encode(), Metadata={"mode": mode}
        )

    def an_admin_adds_users() -> None:
        for n in list(range(100, 1000, 25)) + list(range(101, 1000, 25)):
            answer = _add_user(runner, admin, _email(domain, n))
            if answer.status_code == 201:
                made_meanwhile[_email(domain, n)] = answer.json()["id"]
            else:
                assert (answer.status_code, answer.json()["error"]["code"]) == (409, "user_exists")

    writers = [
        threading.Thread(target=drop, args=("first.csv", "update")),
        threading.Thread(target=drop, args=("second.csv", "skip")),
        threading.Thread(target=an_admin_adds_users),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    imports = _imports_finished(runner, admin)

    users = _all_users(runner, admin)
    by_email = Counter(u["email"] for u in users)
    twins = [u for u in users if by_email[u["email"]] != 1]
    assert not twins, f"an email with more than one user: {twins}"
    assert set(by_email) == {_email(domain, n) for n in range(ROWS)} | {f"admin@{domain}.example"}
    ids = {u["email"]: u["id"] for u in users}
    for email, user_id in {**with_password, **made_meanwhile}.items():
        assert ids[email] == user_id, f"{email} lost its id"
    for email in with_password:
        login = requests.post(
            f"{runner.url}/auth/login",
            timeout=10,
            json={"domain": domain, "email": email, "password": PASSWORD, "client": "web"},
        )
        assert login.status_code == 200, (email, login.text)
    seats = requests.get(
        f"{runner.url}/platform/domains/{domain}", headers={"X-Platform-Key": PLATFORM_KEY}, timeout=10
    ).json()["seats"]
    assert seats["used"] == len(users) == ROWS + 1
    for details in imports:
        assert details["status"] == "completed", details
        counts = details["counts"]
        codes = Counter(e["code"] for e in details["errors"])
        assert counts["rows"] == ROWS and counts["failed"] == 0, (counts, codes, details["errors"][:3])
    created = sum(d["counts"]["created"] for d in imports)
    assert created + len(made_meanwhile) + len(with_password) == ROWS  # each user made once
