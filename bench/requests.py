"""AWS calls per request, cold `import app` and request time, against baselines measured in this run.

Run: `make bench` (or `.venv/bin/python bench/requests.py`). Needs no emulator: moto runs in-process.
AWS calls are counted with botocore's `before-call` event on every client the app creates. Times are
printed as ratios against a baseline of the same run (a bare `import chalice`, a GET /health); the
absolute times are this machine's and moto's, not Lambda's. Exit status 1 when a call-count target is
missed or `import app` imports boto3/botocore.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_KEY = "bench-platform-key"
DOMAIN = "bench"
EMAIL = "admin@bench.local"
PASSWORD = "a long bench password"  # noqa: S105 - the bench domain's admin, in moto only
IMPORT_RUNS = 15
REQUEST_RUNS = 30
# A login reads (domain, credentials, failures), counts the attempt before the password is
# checked (the lockout's atomic write: concurrent guesses never pass the 10th), reads the user and
# writes the session: 4. A device new to the user adds the notice email (API.md §2).
LOGIN_TARGET = 4
NEW_DEVICE_LOGIN_TARGET = LOGIN_TARGET + 1
GET_TARGET = 2


def _isolate_path() -> None:
    """`python bench/requests.py` puts bench/ first on sys.path, where this file would shadow the
    `requests` package that moto imports: take bench/ off and put the project root first."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))


class CallLog:
    """Every AWS API call made by a hooked client, as `service.Operation` (retries not counted)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    def hook(self, client: Any) -> Any:
        client.meta.events.register("before-call", self.record, unique_id="bench-call-log")
        return client


class Bench:
    def __init__(self, http: Any, log: CallLog) -> None:
        self.http = http
        self.log = log

    def send(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        from bench.harness import send as send_json

        return send_json(self.http, PLATFORM_KEY, method, path, token, body)

    def expect(self, status: int, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        got, answer = self.send(method, path, token, body)
        if got != status:
            raise SystemExit(f"bench: {method} {path} answered {got}, expected {status}: {answer}")
        return answer

    def counted(
        self, status: int, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[list[str], Any]:
        self.log.calls.clear()
        answer = self.expect(status, method, path, token, body)
        return list(self.log.calls), answer


def _login(password: str = PASSWORD) -> dict[str, str]:
    return {"domain": DOMAIN, "email": EMAIL, "password": password, "client": "web"}


def _count_rows(bench: Bench) -> tuple[list[tuple[str, list[str], int | None]], str]:
    """AWS calls of each measured request; returns the rows and a token for the timing loop."""
    warm_token = bench.expect(200, "POST", "/auth/login", body=_login())["token"]
    rows: list[tuple[str, list[str], int | None]] = []
    calls, answer = bench.counted(200, "POST", "/auth/login", body=_login())
    token = answer["token"]
    rows.append(("POST /auth/login (ok)", calls, LOGIN_TARGET))
    calls, _ = bench.counted(401, "POST", "/auth/login", body=_login("wrong password!"))
    rows.append(("POST /auth/login (wrong password)", calls, LOGIN_TARGET))
    calls, _ = bench.counted(200, "POST", "/auth/login", body=_login())
    rows.append(("POST /auth/login (ok, clears failures)", calls, LOGIN_TARGET))
    unbound_me: list[str] = []
    for path in ("/me", "/admin/audit"):
        calls, _ = bench.counted(200, "GET", path, token)
        rows.append((f"GET {path}", calls, GET_TARGET))
        unbound_me = unbound_me or calls
    device = {
        "device_id": "bench-phone",
        "type": "android",
        "name": "Bench",
        "os_version": "15",
        "app_version": "1.0",
    }
    app_login = {**_login(), "client": "android", "device": device}
    calls, answer = bench.counted(200, "POST", "/auth/login", body=app_login)
    rows.append(("POST /auth/login (android, new device)", calls, NEW_DEVICE_LOGIN_TARGET))
    calls, _ = bench.counted(200, "GET", "/me", answer["token"])
    # a device-bound request: no more calls than the same request unbound
    rows.append(("GET /me (device-bound token)", calls, len(unbound_me)))
    calls, _ = bench.counted(200, "POST", "/auth/logout", warm_token)
    rows.append(("POST /auth/logout", calls, None))
    calls, _ = bench.counted(200, "GET", "/health")
    rows.append(("GET /health", calls, 0))
    return rows, token


def measure_requests() -> tuple[list[tuple[str, list[str], int | None]], float, float]:
    """Calls per request (label, operations, target) and median seconds of GET /health and GET /me."""
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.bootstrap import reset_services
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings, reset_settings
    from infra.emulator import provision_emulator

    log = CallLog()
    original_create = aws._create
    aws._create = lambda service: log.hook(original_create(service))  # clients created later are hooked too
    try:
        with mock_aws():
            reset_settings()
            aws.reset_clients()
            reset_services()
            provision_emulator(aws.client, get_settings().region)
            aws.ses().verify_email_identity(EmailAddress=get_settings().email_sender)  # as make run does
            from app import app

            logging.getLogger().setLevel(logging.WARNING)  # the app's INFO lines would mix into the table

            with Client(app) as client:
                bench = Bench(client.http, log)
                admin = {"email": EMAIL, "first_name": "B", "last_name": "A", "password": PASSWORD}
                domain = {"domain": DOMAIN, "plan": "business", "billing": "monthly", "hipaa": False}
                bench.expect(201, "POST", "/platform/domains", body={**domain, "admin": admin})
                rows, token = _count_rows(bench)

                health: list[float] = []
                me: list[float] = []
                for _ in range(REQUEST_RUNS):
                    for samples, path in ((health, "/health"), (me, "/me")):
                        started = time.perf_counter()
                        bench.expect(200, "GET", path, token)
                        samples.append(time.perf_counter() - started)
    finally:
        aws._create = original_create
        aws.reset_clients()
    return rows, statistics.median(health), statistics.median(me)


_CHILD = """\
import json, sys, time
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
print(json.dumps({{"s": elapsed, "boto3": "boto3" in sys.modules, "botocore": "botocore" in sys.modules}}))
"""


def measure_imports() -> dict[str, tuple[float, bool, bool]]:
    """Median seconds of each import in a fresh interpreter, and whether boto3/botocore got loaded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    samples: dict[str, list[float]] = {"chalice": [], "app": [], "boto3": []}
    boto3_seen: dict[str, bool] = dict.fromkeys(samples, False)
    botocore_seen: dict[str, bool] = dict.fromkeys(samples, False)
    for _ in range(IMPORT_RUNS):
        for module, times in samples.items():  # interleaved, so drift hits every module alike
            out = subprocess.run(
                [sys.executable, "-c", _CHILD.format(module=module)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            times.append(result["s"])
            boto3_seen[module] |= result["boto3"]
            botocore_seen[module] |= result["botocore"]
    return {m: (statistics.median(t), boto3_seen[m], botocore_seen[m]) for m, t in samples.items()}


def main() -> int:
    _isolate_path()
    from bench.harness import configure_env

    configure_env(PLATFORM_KEY, ())
    failures: list[str] = []

    rows, health_s, me_s = measure_requests()
    print("AWS calls per request (botocore before-call events, moto in-process)")
    print(f"  {'request':<40} {'calls':>5}  {'target':>6}  {'':4}  operations")
    for label, calls, target in rows:
        verdict = "-" if target is None else ("OK" if len(calls) <= target else "OVER")
        shown = "-" if target is None else f"<= {target}"
        print(f"  {label:<40} {len(calls):>5}  {shown:>6}  {verdict:4}  {', '.join(calls) or '(none)'}")
        if verdict == "OVER":
            failures.append(f"{label} makes {len(calls)} AWS calls, target <= {target}")

    imports = measure_imports()
    base = imports["chalice"][0]
    print(f"\nCold import (fresh interpreter, median of {IMPORT_RUNS}, baseline = import chalice)")
    print(f"  {'import':<8} {'median ms':>9}  {'x chalice':>9}  boto3 loaded  botocore loaded")
    for module in ("chalice", "app", "boto3"):
        seconds, boto3_in, botocore_in = imports[module]
        print(f"  {module:<8} {seconds * 1e3:>9.1f}  {seconds / base:>9.2f}  {boto3_in!s:<12}  {botocore_in}")
    app_s, app_boto3, app_botocore = imports["app"]
    boto3_s = imports["boto3"][0]
    print(f"  a bare import boto3 costs {boto3_s / app_s:.2f}x the whole import app: what lazy clients keep")
    print("  out of every cold start that needs no AWS call")
    if app_boto3 or app_botocore:
        failures.append("`import app` imports boto3/botocore (it must stay lazy)")

    print(f"\nRequest time (chalice test Client, moto in-process, median of {REQUEST_RUNS})")
    print("  absolute times are emulator times, not Lambda's; read the ratio")
    print(f"  GET /health (no AWS, baseline)  {health_s * 1e3:7.2f} ms  1.00")
    print(f"  GET /me (authenticated)         {me_s * 1e3:7.2f} ms  {me_s / health_s:.2f}")

    from bench.harness import conclude

    return conclude(failures)


if __name__ == "__main__":
    sys.exit(main())
