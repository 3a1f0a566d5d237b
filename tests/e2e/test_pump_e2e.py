"""End to end: `make run`'s runner refuses a bad OC_PUMP_CONCURRENCY before it starts anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, _free_port, _port_in_use

pytestmark = pytest.mark.e2e


def test_a_bad_pump_concurrency_stops_the_runner_before_it_starts() -> None:
    port, aws_port = _free_port(), _free_port()
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
        OC_PUMP_CONCURRENCY="zero",
    )
    done = subprocess.run(
        [sys.executable, "-m", "localdev.run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "OC_PUMP_CONCURRENCY must be a positive integer" in done.stderr and "'zero'" in done.stderr
    assert not _port_in_use(port) and not _port_in_use(aws_port)  # no emulator, no API
