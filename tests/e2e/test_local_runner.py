"""End to end: `make run`'s runner (python -m localdev.run) on free ports, driven over real HTTP."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
import requests

from tests.e2e.conftest import (
    DEMO_PASSWORD,
    PLATFORM_KEY,
    Runner,
    _free_port,
    _port_in_use,
    _start,
    admin_headers,
)

pytestmark = pytest.mark.e2e


def _post(runner: Runner, path: str, body: object, **headers: str) -> requests.Response:
    return requests.post(f"{runner.url}{path}", json=body, headers=headers, timeout=10)


def _demo_token(runner: Runner) -> str:
    response = _post(
        runner,
        "/auth/login",
        {"domain": "demo", "email": "admin@demo.local", "password": DEMO_PASSWORD, "client": "web"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_banner_says_where_and_how_to_log_in(runner: Runner) -> None:
    output = runner.output()
    assert runner.url in output
    assert "admin@demo.local" in output and DEMO_PASSWORD in output and PLATFORM_KEY in output


def test_demo_admin_logs_in_and_reads_me(runner: Runner) -> None:
    token = _demo_token(runner)
    me = requests.get(f"{runner.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200
    assert me.json()["email"] == "admin@demo.local" and me.json()["domain"] == "demo"
    assert _post(runner, "/auth/logout", {}, Authorization=f"Bearer {token}").status_code == 200
    again = requests.get(f"{runner.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_token"


def test_provision_log_in_and_stay_in_ones_domain(runner: Runner) -> None:
    body = {
        "domain": "e2e-corp",
        "plan": "enterprise",
        "billing": "annual",
        "hipaa": True,
        "admin": {
            "email": "boss@corp.example",
            "first_name": "B",
            "last_name": "Oss",
            "password": "a long e2e password",
        },
    }
    created = _post(runner, "/platform/domains", body, **{"X-Platform-Key": PLATFORM_KEY})
    assert created.status_code == 201 and created.json()["retention_days"] == 7
    login = _post(
        runner,
        "/auth/login",
        {"domain": "e2e-corp", "email": "boss@corp.example", "password": "a long e2e password"},
    )
    token = login.json()["token"]
    demo_token = _demo_token(runner)
    audit = requests.get(
        f"{runner.url}/admin/audit", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert [e["target"] for e in audit.json()["items"]] == ["domain:e2e-corp"]
    _, user_id, secret = demo_token.split(".")
    forged = requests.get(
        f"{runner.url}/me", headers={"Authorization": f"Bearer e2e-corp.{user_id}.{secret}"}, timeout=10
    )
    assert forged.status_code == 401
    platform = requests.get(
        f"{runner.url}/platform/domains/e2e-corp",
        headers={"Authorization": f"Bearer {demo_token}"},
        timeout=10,
    )
    assert platform.status_code == 401 and platform.json()["error"]["code"] == "invalid_platform_key"


def test_concurrent_requests_each_see_their_own_caller(runner: Runner) -> None:
    body = {
        "domain": "e2e-two",
        "plan": "business",
        "billing": "monthly",
        "admin": {
            "email": "two@two.example",
            "first_name": "T",
            "last_name": "Wo",
            "password": "another e2e password",
        },
    }
    assert _post(runner, "/platform/domains", body, **{"X-Platform-Key": PLATFORM_KEY}).status_code == 201
    second = _post(
        runner,
        "/auth/login",
        {"domain": "e2e-two", "email": "two@two.example", "password": "another e2e password"},
    ).json()["token"]
    callers = {_demo_token(runner): "admin@demo.local", second: "two@two.example"}

    def me(token: str) -> tuple[str, str]:
        answer = requests.get(f"{runner.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=20)
        return callers[token], answer.json()["email"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(me, list(callers) * 20))
    assert len(results) == 40 and all(expected == seen for expected, seen in results)


def test_errors_answer_the_contract_body(runner: Runner) -> None:
    cases = [
        (requests.get(f"{runner.url}/no/such/route", timeout=10), 404, "not_found"),
        (requests.delete(f"{runner.url}/me", timeout=10), 405, "method_not_allowed"),
        (
            requests.post(
                f"{runner.url}/auth/login",
                data="{oops",
                timeout=10,
                headers={"Content-Type": "application/json"},
            ),
            400,
            "invalid_json",
        ),
        (
            requests.post(
                f"{runner.url}/auth/login", data="{}", timeout=10, headers={"Content-Type": "text/plain"}
            ),
            415,
            "unsupported_media_type",
        ),
        (requests.get(f"{runner.url}/me", timeout=10), 401, "unauthenticated"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"]}}
        # Compact, as Chalice writes every answer of the app (the catch-all 404 included).
        assert response.text == json.dumps(response.json(), separators=(",", ":")), response.text


def test_the_pump_delivers_s3_events_to_the_handler(runner: Runner) -> None:
    endpoint = f"http://127.0.0.1:{runner.aws_port}"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    session.client("s3", endpoint_url=endpoint).put_object(
        Bucket="office-chat-files", Key="imports/demo/e2e.csv", Body=b"Email\nx@demo.local\n"
    )
    sqs = session.client("sqs", endpoint_url=endpoint)
    url = sqs.get_queue_url(QueueName="office-chat-s3-events")["QueueUrl"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        pending = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        if pending == 0 and _imported(runner, "imports/demo/e2e.csv"):
            return
        time.sleep(0.3)
    pytest.fail(f"the S3 event was not consumed:\n{runner.output()[-2000:]}")


def _imported(runner: Runner, key: str) -> bool:
    """The S3 event reached the import handler: the domain lists an import of that object."""
    answer = requests.get(f"{runner.url}/admin/imports", headers=admin_headers(runner), timeout=10)
    return any(item["file"] == key for item in answer.json()["items"])


def test_a_second_runner_on_the_same_port_fails_clearly(runner: Runner, tmp_path: Path) -> None:
    process, _ = _start(runner.port, _free_port(), tmp_path / "second.log")
    assert process.wait(timeout=30) != 0
    message = (tmp_path / "second.log").read_text()
    assert f"port {runner.port}" in message and "already in use" in message


def test_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port, aws_port = _free_port(), _free_port()
    process, _ = _start(port, aws_port, tmp_path / "run.log")
    deadline = time.monotonic() + 90
    while not _port_in_use(port):
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert not _port_in_use(port) and not _port_in_use(aws_port)
