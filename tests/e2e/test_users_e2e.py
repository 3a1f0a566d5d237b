"""End to end, as an admin and a new member would do it: invite by email (read off the
emulator's SES), accept on the invitation link, sign in, default groups, deactivation."""

from __future__ import annotations

import re
import time

import boto3
import requests

from tests.e2e.conftest import Runner, admin_headers, emails_sent


def test_invite_accept_sign_in_and_deactivate(runner: Runner) -> None:
    admin = admin_headers(runner)
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
    admin = admin_headers(runner)
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


def _invite_and_accept(
    runner: Runner, admin: dict[str, str], email: str, password: str = "a passphrase to lose"
) -> tuple[str, dict[str, str]]:
    created = requests.post(
        f"{runner.url}/admin/users",
        headers=admin,
        timeout=10,
        json={"email": email, "first_name": "Del", "last_name": "Eted", "send_invite": True},
    ).json()
    mail = [m for m in emails_sent(runner) if email in str(m)][-1]
    token = re.search(r"accept-invite\?token=(\S+)", str(mail["body"]))
    assert token, mail
    accepted = requests.post(
        f"{runner.url}/auth/accept-invite",
        timeout=10,
        json={"token": token.group(1), "password": password},
    ).json()
    return created["id"], {"Authorization": f"Bearer {accepted['token']}"}


def test_delete_a_user_and_their_content_goes_everywhere(runner: Runner) -> None:
    admin = admin_headers(runner)
    user_id, user = _invite_and_accept(runner, admin, "e2e.deleted@demo.local")
    group = requests.post(f"{runner.url}/groups", headers=user, timeout=10, json={"name": "Soon gone"}).json()
    upload = requests.post(
        f"{runner.url}/files",
        headers=user,
        timeout=10,
        json={"filename": "gone.txt", "content_type": "text/plain", "size": 5},
    ).json()
    assert (
        requests.put(upload["upload_url"], data=b"bytes", headers=upload["headers"], timeout=10).status_code
        == 200
    )
    requests.post(
        f"{runner.url}/groups/{group['id']}/messages",
        headers=user,
        timeout=10,
        json={"text": "a file", "file_ids": [upload["file_id"]]},
    ).raise_for_status()
    assert group["id"] in str(requests.get(f"{runner.url}/admin/groups", headers=admin, timeout=10).json())
    s3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=f"http://127.0.0.1:{runner.aws_port}")

    def stored_keys() -> str:
        return str(s3.list_objects_v2(Bucket="office-chat-files", Prefix="files/demo/").get("Contents", []))

    assert upload["file_id"] in stored_keys()

    preview = requests.get(
        f"{runner.url}/admin/users/{user_id}/deletion-preview", headers=admin, timeout=10
    ).json()
    assert preview["groups_created"] == 1 and preview["group_files"] == 1
    started = requests.delete(f"{runner.url}/admin/users/{user_id}", headers=admin, timeout=10)
    assert started.status_code == 202, started.text
    assert requests.get(f"{runner.url}/me", headers=user, timeout=10).status_code == 401
    job_url = f"{runner.url}/admin/jobs/{started.json()['job_id']}"
    deadline = time.monotonic() + 30
    while requests.get(job_url, headers=admin, timeout=10).json()["status"] != "succeeded":
        assert time.monotonic() < deadline, requests.get(job_url, headers=admin, timeout=10).json()
        time.sleep(0.3)
    assert group["id"] not in str(
        requests.get(f"{runner.url}/admin/groups", headers=admin, timeout=10).json()
    )
    assert (
        requests.get(f"{runner.url}/files/{upload['file_id']}", headers=admin, timeout=10).status_code == 404
    )
    assert upload["file_id"] not in stored_keys()
    assert requests.get(f"{runner.url}/admin/users/{user_id}", headers=admin, timeout=10).status_code == 404
