"""The runner of `make run` (python -m localdev.run) on free ports, shared by the e2e tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_KEY = "e2e-platform-key-0123456789"
DEMO_PASSWORD = "e2e demo password 42"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Runner:
    process: subprocess.Popen[str]
    url: str
    port: int
    aws_port: int
    log: Path
    env: dict[str, str]

    def output(self) -> str:
        return self.log.read_text()


def _start(port: int, aws_port: int, log: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OC_", "AWS_", "SLACK_", "MAILCHIMP_", "SUPPORT_"))
    }
    env.update(
        OC_PORT=str(port),
        OC_AWS_PORT=str(aws_port),
        OC_SLACK_PORT=str(_free_port()),
        OC_MAILCHIMP_PORT=str(_free_port()),
        OC_PLATFORM_KEY=PLATFORM_KEY,
        OC_CURSOR_KEY="e2e-cursor-key-0123456789abcdef",
        OC_DEMO_PASSWORD=DEMO_PASSWORD,
        PYTHONUNBUFFERED="1",
        OC_INLINE_JOB_USERS="0",  # every job goes through the queue and the pump, as in AWS
        OC_RUN_DIR=str(log.parent / ".run"),  # never the project's own: a make run may be using it
    )
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.run"],
        cwd=ROOT,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, env


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    port, aws_port = _free_port(), _free_port()
    log = tmp_path_factory.mktemp("runner") / "run.log"
    process, env = _start(port, aws_port, log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the runner did not become healthy:\n{log.read_text()}")
        time.sleep(0.2)
    yield Runner(process, url, port, aws_port, log, env)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def emails_sent(runner: Runner) -> list[dict[str, Any]]:
    """Every email the emulator's SES received, read from moto server's data endpoint."""
    data = requests.get(f"http://127.0.0.1:{runner.aws_port}/moto-api/data.json", timeout=10).json()
    return list(data.get("ses", {}).get("Message", []))


def admin_headers(runner: Runner) -> dict[str, str]:
    """The demo admin's Authorization header."""
    login = requests.post(
        f"{runner.url}/auth/login",
        timeout=10,
        json={"domain": "demo", "email": "admin@demo.local", "password": DEMO_PASSWORD},
    )
    return {"Authorization": f"Bearer {login.json()['token']}"}
