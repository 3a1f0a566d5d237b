"""What the benches share: the moto-in-process environment they run in, the log of the AWS calls
they count, the drain of the jobs queue, the table of times.

Imported after the bench has put the project root on sys.path (each script does that first, then
calls `isolate_path`: `python bench/x.py` puts bench/ first, where bench/requests.py would shadow
the requests package)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JOBS_QUEUE = "office-chat-jobs"

MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
CLEARED = (
    "OC_AWS_ENDPOINT_URL",
    "OC_PLATFORM_KEY_SSM_PARAM",
    "OC_CURSOR_KEY_SSM_PARAM",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)
BENCH_CURSOR_KEY = "bench-cursor-key-0123456789abcdef"


def configure_env(platform_key: str, also_clear: tuple[str, ...] = ()) -> None:
    """moto's dummy credentials, our platform and cursor keys, and none of the settings that would point the
    app elsewhere or change what is measured."""
    os.environ.update(MOTO_ENV, OC_PLATFORM_KEY=platform_key, OC_CURSOR_KEY=BENCH_CURSOR_KEY)
    for name in CLEARED + also_clear:
        os.environ.pop(name, None)


def conclude(failures: list[str]) -> int:
    """Prints what missed its target and the verdict; the exit status for CI (1 on a miss)."""
    print()
    for failure in failures:
        print(f"FAIL: {failure}")
    print("result: " + ("FAIL" if failures else "all targets met"))
    return 1 if failures else 0


def send(
    http: Any, platform_key: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """A JSON request through chalice.test's HTTP client: (status, decoded body)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if path.startswith("/platform/"):
        headers["X-Platform-Key"] = platform_key
    payload = json.dumps(body) if body is not None else None
    response = getattr(http, method.lower())(path, headers=headers, body=payload)
    return response.status_code, json.loads(response.body or b"null")


def isolate_path() -> None:
    """`python bench/x.py` puts bench/ first on sys.path, where bench/requests.py would shadow the
    `requests` package that moto imports: take bench/ off and put the project root first. The
    script puts the root on sys.path before it imports this module (ROOT below)."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() not in (here, ROOT)]
    sys.path.insert(0, str(ROOT))


class CallLog:
    """Every AWS API call made by a hooked client, as `service.Operation` (retries not counted),
    the seconds spent in each operation, and for each DynamoDB Query what it read."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.queries: list[str] = []
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.aliases: dict[str, str] = {}  # ids shown by role, so two runs' Queries compare
        self._started = 0.0
        self._last = 0.0  # seconds of the last call

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")
        self._started = time.perf_counter()

    def record_time(self, model: Any, **_: Any) -> None:
        self._last = time.perf_counter() - self._started
        self.seconds[f"{model.service_model.service_name}.{model.name}"] += self._last

    def record_query(self, params: Any, **_: Any) -> None:
        values = params.get("ExpressionAttributeValues") or {}
        shown = values.get(":pk", {}).get("S", "?")
        if ":sk" in values:
            shown += f" begins_with {values[':sk'].get('S')}"
        for raw, alias in self.aliases.items():
            shown = shown.replace(raw, alias)
        what = "Select=COUNT" if params.get("Select") == "COUNT" else f"Limit={params.get('Limit', '-')}"
        start = " +ExclusiveStartKey" if params.get("ExclusiveStartKey") else ""
        self.queries.append(f"{params.get('IndexName', 'table'):<5} {shown:<42} {what}{start}")

    def clear(self) -> None:
        self.calls.clear()
        self.queries.clear()
        self.seconds.clear()

    def uncount(self, operation: str) -> None:
        """Drops the last call (one the harness made), which must be `operation`."""
        if not self.calls or self.calls[-1] != operation:
            raise SystemExit(
                f"bench: expected {operation} as the last call, the log ends with {self.calls[-1:]}"
            )
        self.calls.pop()
        self.seconds[operation] -= self._last
        if operation not in self.calls:
            del self.seconds[operation]

    def hook(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-call", self.record, unique_id="bench-call-log")
        events.register("after-call", self.record_time, unique_id="bench-call-time")
        events.register(
            "before-parameter-build.dynamodb.Query", self.record_query, unique_id="bench-query-log"
        )
        return client


@contextlib.contextmanager
def hooked_clients(log: CallLog) -> Iterator[None]:
    """Every AWS client the app creates from now on is hooked to `log`."""
    from chalicelib.core import aws

    original_create = aws._create
    aws._create = lambda service: log.hook(original_create(service))
    try:
        yield
    finally:
        aws._create = original_create
        aws.reset_clients()


@contextlib.contextmanager
def moto_app() -> Iterator[Any]:
    """A fresh moto account (moto in-process) provisioned as the emulator is, the app's services
    and clients made anew in it, and chalice.test's Client of the app."""
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.bootstrap import reset_services
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings, reset_settings
    from infra.emulator import provision_emulator

    with mock_aws():
        reset_settings()
        aws.reset_clients()
        reset_services()
        try:
            provision_emulator(aws.client, get_settings().region)
            from app import app

            logging.getLogger().setLevel(logging.WARNING)  # the app's INFO lines would mix into the tables
            with Client(app) as client:
                yield client
        finally:
            reset_services()
            aws.reset_clients()
            reset_settings()


def expect(
    http: Any,
    platform_key: str,
    status: int,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
) -> Any:
    """`send`, which must answer `status` (the bench stops otherwise): the decoded body."""
    got, answer = send(http, platform_key, method, path, token, body)
    if got != status:
        raise SystemExit(f"bench: {method} {path} answered {got}, expected {status}: {answer}")
    return answer


def drain(client: Any, log: CallLog, queue: str = JOBS_QUEUE, max_deliveries: int = 1000) -> int:
    """Plays Lambda's SQS event source: each job message once to `on_job`, then deleted. Answers
    how many were delivered; the harness's queue lookup and its last, empty poll are not counted."""
    from chalicelib.core import aws

    url = aws.sqs().get_queue_url(QueueName=queue)["QueueUrl"]
    log.uncount("sqs.GetQueueUrl")  # the harness's own lookup (an event source knows its queue)
    for delivered in range(max_deliveries):
        messages = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            log.uncount("sqs.ReceiveMessage")  # the empty poll that ends the drain
            return delivered
        event = client.events.generate_sqs_event(message_bodies=[messages[0]["Body"]], queue_name=queue)
        client.lambda_.invoke("on_job", event)
        aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    raise SystemExit(f"bench: the {queue} queue never emptied")


@dataclass
class Timed:
    """A counted span's time: its total and the part spent in each AWS operation."""

    seconds: float
    op_seconds: dict[str, float]


def print_times(a: Timed, b: Timed) -> None:
    """The counted span's time in scenarios A and B, by AWS operation, and B / A."""
    print("\n  Time of the counted span, by AWS operation (emulator times, not Lambda's: read the ratios)")
    print(f"  {'':<34} {'A ms':>9} {'B ms':>9} {'B / A':>7}")
    rows = [
        (op, a.op_seconds.get(op, 0.0), b.op_seconds.get(op, 0.0))
        for op in set(a.op_seconds) | set(b.op_seconds)
    ]
    rows.sort(key=lambda row: -row[2])
    rows.append(
        (
            "outside AWS calls (app, harness)",
            a.seconds - sum(a.op_seconds.values()),
            b.seconds - sum(b.op_seconds.values()),
        )
    )
    rows.append(("total (baseline: A)", a.seconds, b.seconds))
    for name, sa, sb in rows:
        print(f"  {name:<34} {sa * 1e3:>9.1f} {sb * 1e3:>9.1f} {sb / sa if sa else math.nan:>7.2f}")


FLOOR_TARGET = 1.25  # calls / the batching floor, for the benches of erasing jobs


def floor_targets(
    results: Sequence[Any], what_grows: str, note: Callable[[Any], str] = lambda result: ""
) -> list[str]:
    """Prints each scenario's calls against its batching floor, and whether the two scenarios
    made the same calls per operation (the cost must not grow with `what_grows`); returns what
    missed. A result has `label`, `calls`, `floor`, `floor_share` and `by_operation`."""
    failures: list[str] = []
    for r in results:
        ratio = len(r.calls) / r.floor
        verdict = "OK" if ratio <= FLOOR_TARGET else "OVER"
        print(
            f"  {r.label}: calls / floor = {len(r.calls)} / {r.floor} = {ratio:.3f}"
            f"  (target <= {FLOOR_TARGET:.2f}) {verdict}{note(r)}"
        )
        if verdict == "OVER":
            over = {op: r.by_operation[op] - n for op, n in r.floor_share.items() if r.by_operation[op] > n}
            outside = {op: n for op, n in sorted(r.by_operation.items()) if op not in r.floor_share}
            failures.append(
                f"{r.label}: {len(r.calls)} calls = {ratio:.2f}x the floor {r.floor}"
                f" (target <= {FLOOR_TARGET}); above the floor's own operations: {over};"
                f" outside the floor: {outside}"
            )
    a, b = results
    same = a.by_operation == b.by_operation
    print(
        f"  calls {b.label} / calls {a.label} = {len(b.calls) / len(a.calls):.3f}"
        f"  (target 1.000, per operation)  {'OK' if same else 'OVER'}"
    )
    if not same:
        operations = sorted(set(a.by_operation) | set(b.by_operation))
        differ = {op: (a.by_operation[op], b.by_operation[op]) for op in operations}
        unequal = {op: ab for op, ab in differ.items() if ab[0] != ab[1]}
        failures.append(f"the calls depend on {what_grows}, ({a.label}, {b.label}): {unequal}")
    return failures
