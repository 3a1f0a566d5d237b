"""End to end, as an admin and a new member would do it: invite by email (read off the
emulator's SES), accept on the invitation link, sign in, default groups, deactivation."""

from __future__ import annotations

import re
import time

import requests

from tests.e2e.conftest import DEMO_PASSWORD, Runner, emails_sent


def _admin(runner: Runner) -> dict[str, str]:
    login = requests.post(
        f"{runner.url}/auth/login",
        timeout=10,
        json={"domain": "demo", "email": "admin@demo.local", "password": DEMO_PASSWORD},
    )
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_invite_accept_sign_in_and_deactivate(runner: Runner) -> None:
    admin = _admin(runner)
    created = requests.post(
        f"{runner.url}/admin/users",
        headers=admin,
        timeout=10,
        json={
            "email": "e2e.member@demo.local",
            "first_name": "Eve",
            "last_name": "Member",
            "send_invite": True,
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["status"] == "invited" and user["invitation"]["sent"] is True

    mail = [m for m in emails_sent(runner) if "e2e.member@demo.local" in str(m)][-1]
    link = re.search(r"(http\S+/accept-invite\?token=\S+)", str(mail["body"]))
    assert link, mail
    assert f"{runner.url}/accept-invite?token=" in link.group(1)
    assert "e2e.member@demo.local" in runner.output()  # the runner printed the email too
    page = requests.get(link.group(1), timeout=10)
    assert page.status_code == 200 and "Set password" in page.text
    token = link.group(1).split("token=", 1)[1]

    accepted = requests.post(
        f"{runner.url}/auth/accept-invite",
        timeout=10,
        json={"token": token, "password": "eve's own passphrase"},
    )
    assert accepted.status_code == 200, accepted.text
    member = {"Authorization": f"Bearer {accepted.json()['token']}"}
    assert requests.get(f"{runner.url}/me", headers=member, timeout=10).json()["status"] == "active"

    defaults = requests.get(f"{runner.url}/admin/groups?default=true", headers=admin, timeout=10).json()
    assert sorted(g["name"] for g in defaults["items"]) == ["Admin Announcements", "All Of Us"]
    forbidden = requests.get(f"{runner.url}/admin/users", headers=member, timeout=10)
    assert forbidden.status_code == 403

    found = requests.get(f"{runner.url}/admin/users?q=eve", headers=admin, timeout=10).json()["items"]
    assert [u["email"] for u in found] == ["e2e.member@demo.local"]
    off = requests.post(f"{runner.url}/admin/users/{user['id']}/deactivate", headers=admin, timeout=10)
    assert off.json()["status"] == "deactivated"
    dead = requests.get(f"{runner.url}/me", headers=member, timeout=10)
    assert dead.status_code == 401 and dead.json()["error"]["code"] == "invalid_token"
    login = requests.post(
        f"{runner.url}/auth/login",
        timeout=10,
        json={"domain": "demo", "email": "e2e.member@demo.local", "password": "eve's own passphrase"},
    )
    assert login.status_code == 403 and login.json()["error"]["code"] == "user_deactivated"


def test_marking_a_default_group_runs_as_a_job_through_the_pump(runner: Runner) -> None:
    admin = _admin(runner)
    group = requests.get(f"{runner.url}/admin/groups?default=true", headers=admin, timeout=10).json()[
        "items"
    ][0]
    off = requests.put(
        f"{runner.url}/admin/groups/{group['id']}/default", headers=admin, timeout=10, json={"default": False}
    )
    assert off.status_code == 200 and off.json()["default"] is False
    on = requests.put(
        f"{runner.url}/admin/groups/{group['id']}/default", headers=admin, timeout=10, json={"default": True}
    )
    assert on.status_code == 202, on.text  # the runner sets OC_INLINE_JOB_USERS=0
    job_url = f"{runner.url}/admin/jobs/{on.json()['job']['id']}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        job = requests.get(job_url, headers=admin, timeout=10).json()
        if job["status"] == "succeeded":
            assert job["progress"]["done"] == job["progress"]["total"] >= 1
            return
        time.sleep(0.3)
    raise AssertionError(f"the job did not finish: {job}")
