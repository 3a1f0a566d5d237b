"""End to end: a group, a message carrying a file uploaded through its presigned URL, and the
download, against `make run`'s runner (moto server) over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.e2e.conftest import PLATFORM_KEY, Runner

pytestmark = pytest.mark.e2e


def _call(runner: Runner, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, f"{runner.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _domain_admin(runner: Runner, domain: str) -> str:
    admin = {
        "email": f"boss@{domain}.example",
        "first_name": "B",
        "last_name": "Oss",
        "password": "an e2e password",
    }
    body = {"domain": domain, "plan": "business", "billing": "monthly", "admin": admin}
    created = requests.post(
        f"{runner.url}/platform/domains", json=body, headers={"X-Platform-Key": PLATFORM_KEY}, timeout=10
    )
    assert created.status_code == 201, created.text
    login = {"domain": domain, "email": admin["email"], "password": admin["password"]}
    return str(requests.post(f"{runner.url}/auth/login", json=login, timeout=10).json()["token"])


def test_a_file_travels_through_s3_into_a_group_message(runner: Runner) -> None:
    token = _domain_admin(runner, "e2e-content")
    other = _domain_admin(runner, "e2e-content-other")
    group = _call(runner, "POST", "/groups", token, {"name": "Launch"}).json()
    data = "Quarterly numbers, ünïcode included.\n".encode()
    upload = _call(
        runner,
        "POST",
        "/files",
        token,
        {"filename": "numbers.txt", "content_type": "text/plain", "size": len(data)},
    )
    assert upload.status_code == 201, upload.text
    ticket = upload.json()
    assert f"/files/e2e-content/{ticket['file_id']}/numbers.txt" in ticket["upload_url"]
    put = requests.put(ticket["upload_url"], data=data, headers=ticket["headers"], timeout=10)
    assert put.status_code == 200, put.text

    posted = _call(
        runner,
        "POST",
        f"/groups/{group['id']}/messages",
        token,
        {"text": "the numbers", "file_ids": [ticket["file_id"]]},
    )
    assert posted.status_code == 201, posted.text
    listed = _call(runner, "GET", f"/groups/{group['id']}/messages", token).json()
    assert [(m["text"], [f["filename"] for f in m["files"]]) for m in listed["items"]] == [
        ("the numbers", ["numbers.txt"])
    ]

    download = _call(runner, "GET", f"/files/{ticket['file_id']}", token)
    assert download.status_code == 200, download.text
    fetched = requests.get(download.json()["download_url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    assert "attachment" in fetched.headers.get("Content-Disposition", "")

    # another domain sees neither the group, its messages nor the file
    assert _call(runner, "GET", f"/groups/{group['id']}", other).status_code == 404
    assert _call(runner, "GET", f"/groups/{group['id']}/messages", other).status_code == 404
    assert (
        _call(runner, "GET", f"/files/{ticket['file_id']}", other).json()["error"]["code"] == "file_not_found"
    )
