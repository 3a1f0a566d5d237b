"""CSV import of new users: throughput and AWS calls of our path against a naive per-row importer,
and the handler's peak memory at 10 000 and 100 000 rows.

Run: `.venv/bin/python bench/import_bench.py` (about 12 minutes on 2 cores: the naive baseline's
120 000 calls take ~6 min, the 100 000-row handler ~5.5 min; `--rows` and `--rss-rows` make a
smaller run). Runs against the emulator: moto server in a subprocess on a free port, started as
`make run` starts it (`python -m localdev.emulator`), provisioned from infra/template.yaml as
`make run` does (localdev.run.provision_resources, SES sender verified); the app reaches it through
OC_AWS_ENDPOINT_URL, so every AWS call is an HTTP request with the emulator's per-call cost
(~3.5 ms for a GetItem here, client and emulator together).

moto's costs that grow with the table (or a partition, or quadratically with an item), which
DynamoDB's do not, are made per item by localdev/emulator.py (`--unpatched-emulator` runs plain
`python -m moto.server`; the answers are the same): TransactWriteItems deep-copies the whole table
once per operation (for its rollback: there it backs up the items it writes); a Query sorts the
whole table (there: its partition, or the items of the index key asked) and walks a partition from
its start to the ExclusiveStartKey (there: a bisection, and only the stretch within the key
condition and the Limit); building an item re-sums the sizes of all its attributes for each one
added (there: one running sum); and Python's full collections walk the emulator's millions of
items (there they are frozen every 5 s). Unfixed, a 10 000-row import takes minutes per thousand
rows, and calls pass the app's 10 s read timeout, whose retries then race the first attempt.

1. Our path, N = 10 000 rows (Email, First Name, Last Name, Title; all new users) in a domain
   provisioned through POST /platform/domains (its admin, its two default groups): the file is put
   at imports/<domain>/users.csv with the metadata send-invites=true, then the S3-events queue is
   delivered to `on_s3_event` and the jobs queue to `on_job` (chalice.test's lambda_.invoke, each
   message once) until both are empty: the import job, which invites each chunk's new users as it
   creates them (SES SendBulkTemplatedEmail, 50 a call). Time: from the
   put to the last empty poll. AWS calls: every call made inside the handlers (all services, from
   a botocore before-call hook on every client the app creates); not the bench's put, polling and
   deletes of messages.
2. The naive baseline, in this file, same N rows, another domain: reads the file (GetObject),
   then for each row GetItem of the email's item and, for a new email, PutItem one by one of the
   items our path writes for a new user (email, profile, roster entries, search entries, the
   default groups' memberships, the invitation) and one SES SendEmail with the invitation link.
   It writes neither our import bookkeeping (row markers, report, import record) nor the seats
   counter: it is a lower bound of a naive importer's calls.
3. Floor of our item layout: ceil(items transacted / 100) + ceil(other items written / 25) +
   ceil(rows / 100). Items transacted are the operations of our TransactWriteItems calls: the new
   users' conditional claims of their emails (and the seats they take), which only a transaction
   can write conditionally in bulk, 100 a call; the other items written are those of our
   BatchWriteItem calls and our Put/Update/DeleteItem.
4. Peak RSS of the handler: a fresh process (`--rss N`, this file) that only imports the app and
   delivers the queues (of a file the parent put, into a domain the parent provisioned) reports
   its peak RSS, at 10 000 and at 100 000 rows: VmHWM, the peak of this process image, because
   getrusage's ru_maxrss of a forked + exec'd process starts at its parent's RSS (Linux). The
   emulator is a process of its own: its tables are not in the measure.

Each domain is provisioned through the platform route with SEATS seats (at most rules.MAX_SEATS).

Targets: our throughput >= 10x the baseline's; our calls <= 1.25x the floor; peak RSS at 100 000
rows <= peak at 10 000 + 20 MB (10^6 bytes). Exit status 1 on a miss or a wrong import.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PLATFORM_KEY = "bench-platform-key"
PASSWORD = "a long bench password"  # noqa: S105 - the bench domains' admins, in the emulator only
ROWS = 10_000
RSS_ROWS = (10_000, 100_000)
SEATS = 250_000
S3_EVENTS_QUEUE = "office-chat-s3-events"
JOBS_QUEUE = "office-chat-jobs"
QUEUES = ((S3_EVENTS_QUEUE, "on_s3_event"), (JOBS_QUEUE, "on_job"))
HEADING = "Email,First Name,Last Name,Title\n"
BATCH_WRITE = 25  # items a BatchWriteItem
BATCH_READ = 100  # keys a BatchGetItem
TRANSACTION = 100  # operations a TransactWriteItems (conditional claims of new users)
SPEED_TARGET = 10.0
FLOOR_TARGET = 1.25
RSS_TARGET_KIB = 20 * 1000 * 1000 // 1024  # 20 MB
RESULT_PREFIX = "import-bench-rss: "
WRITES = ("PutItem", "UpdateItem", "DeleteItem")


def _isolate_path() -> None:
    """`python bench/import_bench.py` puts bench/ first on sys.path, where bench/requests.py would
    shadow the `requests` package that moto imports: take bench/ off and put the project root first."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))


# --- the emulator ------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Runs in the emulator's process: Linux kills it if the bench dies, even by SIGKILL."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_emulator(patched: bool) -> tuple[subprocess.Popen[bytes], str]:
    """localdev/emulator.py (moto server with its fixes), or moto server as it is."""
    port = _free_port()
    server = "localdev.emulator" if patched else "moto.server"
    process = subprocess.Popen(
        [sys.executable, "-m", server, "-H", HOST, "-p", str(port)],
        cwd=ROOT,  # `-m` puts the project root first on the path, and not bench/
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for the death signal
    )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench: the emulator exited at start (code {process.returncode})")
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()  # noqa: S310 - our own emulator
            return process, url
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("bench: the emulator did not start within 60 s")


def _configure(url: str) -> None:
    """moto's dummy credentials, our platform key, the emulator's endpoint: before the app reads
    its settings. The import's own knobs keep their defaults."""
    from bench.harness import configure_env

    configure_env(PLATFORM_KEY, ("OC_IMPORT_CHUNK_ROWS", "OC_IMPORT_STEP_SECONDS", "OC_MAX_IMPORT_BYTES"))
    os.environ["OC_AWS_ENDPOINT_URL"] = url
    from chalicelib.core import aws
    from chalicelib.core.config import reset_settings

    reset_settings()
    aws.reset_clients()


# --- counting ----------------------------------------------------------------------------------------


class CallLog:
    """The AWS calls made while `counting` (retries not counted), as `service.Operation`, the
    seconds spent in each, the DynamoDB items they wrote and the email destinations they sent to."""

    def __init__(self) -> None:
        self.active = False
        self.calls: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.items_written = 0
        self.items_transacted = 0  # of items_written: the operations of TransactWriteItems
        self.invitations = 0  # destinations of SendBulkTemplatedEmail
        self.emails = 0  # destinations of SendEmail
        self._started = 0.0

    def record(self, model: Any, **_: Any) -> None:
        if self.active:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1
            self._started = time.perf_counter()

    def record_time(self, model: Any, **_: Any) -> None:
        if self.active:
            self.seconds[f"{model.service_model.service_name}.{model.name}"] += (
                time.perf_counter() - self._started
            )

    def record_params(self, params: Any, model: Any, **_: Any) -> None:
        if not self.active:
            return
        name = model.name
        if name == "BatchWriteItem":
            self.items_written += sum(len(r) for r in (params.get("RequestItems") or {}).values())
        elif name == "TransactWriteItems":
            self.items_written += len(params.get("TransactItems") or [])
            self.items_transacted += len(params.get("TransactItems") or [])
        elif name in WRITES and model.service_model.service_name == "dynamodb":
            self.items_written += 1
        elif name == "SendBulkTemplatedEmail":
            self.invitations += len(params.get("Destinations") or [])
        elif name == "SendEmail":
            self.emails += len((params.get("Destination") or {}).get("ToAddresses") or [])

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False

    def take(self) -> tuple[Counter[str], dict[str, float], int, int, int]:
        """What was counted since the last take, and a fresh start."""
        taken = (Counter(self.calls), dict(self.seconds), self.items_written, self.invitations, self.emails)
        self.calls.clear()
        self.seconds.clear()
        self.items_written = self.invitations = self.emails = 0
        return taken

    def take_transacted(self) -> int:
        """The transacted items counted since the last call, and a fresh start."""
        taken, self.items_transacted = self.items_transacted, 0
        return taken

    def hook(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-call", self.record, unique_id="import-bench-call")
        events.register("after-call", self.record_time, unique_id="import-bench-time")
        events.register("before-parameter-build", self.record_params, unique_id="import-bench-params")
        return client


@dataclass
class PathResult:
    label: str
    rows: int
    seconds: float
    calls: Counter[str]
    op_seconds: dict[str, float]
    items_written: int
    invitations: int  # invitation emails sent (ours: bulk destinations; naive: SendEmail)
    emails: int  # other emails (ours: the admin's summary)
    created: int
    deliveries: int = 0
    problems: list[str] = field(default_factory=list)
    items_transacted: int = 0  # of items_written: in TransactWriteItems (the claims and their seats)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds

    def per_thousand(self, value: float) -> float:
        return value * 1000 / self.rows

    @property
    def floor(self) -> int:
        batched = self.items_written - self.items_transacted
        return (
            math.ceil(self.items_transacted / TRANSACTION)
            + math.ceil(batched / BATCH_WRITE)
            + math.ceil(self.rows / BATCH_READ)
        )


# --- seeding (not counted) ---------------------------------------------------------------------------


def _provision(http: Any, domain: str, rows: int) -> None:
    """The domain through the platform route (its admin, its default groups), with room for the
    rows' new users."""
    from bench.harness import send

    admin = {"email": f"admin@{domain}.example", "first_name": "B", "last_name": "A", "password": PASSWORD}
    body = {
        "domain": domain,
        "plan": "business",
        "billing": "monthly",
        "hipaa": False,
        "seats": max(SEATS, rows + 1),
        "admin": admin,
    }
    status, answer = send(http, PLATFORM_KEY, "POST", "/platform/domains", body=body)
    if status != 201:
        raise SystemExit(f"bench: POST /platform/domains answered {status}: {answer}")


def _csv(domain: str, rows: int) -> bytes:
    lines = [HEADING]
    lines += [f"user{n:06d}@{domain}.example,First{n},Last{n},Title {n % 97}\n" for n in range(rows)]
    return "".join(lines).encode()


def _put(key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    aws.s3().put_object(Bucket=get_settings().bucket, Key=key, Body=body, Metadata=metadata or {})


def _drive(client: Any, log: CallLog | None, limit: int) -> int:
    """Plays Lambda's SQS event sources until both queues are empty: each message once to its
    handler, then deleted. Only the handlers' calls are counted."""
    from chalicelib.core import aws

    sqs = aws.sqs()
    queues = [(sqs.get_queue_url(QueueName=q)["QueueUrl"], q, handler) for q, handler in QUEUES]
    for delivered in range(limit):
        message = _receive(sqs, queues)
        if message is None:
            return delivered
        url, queue, handler, received = message
        event = client.events.generate_sqs_event(message_bodies=[received["Body"]], queue_name=queue)
        with log.counting() if log is not None else contextlib.nullcontext():
            client.lambda_.invoke(handler, event)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=received["ReceiptHandle"])
    raise SystemExit("bench: the queues never emptied")


def _receive(sqs: Any, queues: list[tuple[str, str, str]]) -> tuple[str, str, str, Any] | None:
    """The first message waiting in the queues, in their order, with its queue and handler."""
    for url, queue, handler in queues:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if messages:
            return url, queue, handler, messages[0]
    return None


def _check_import(domain: str, rows: int) -> tuple[int, list[str]]:
    """The domain's one import completed, created every row's user, took their seats."""
    from chalicelib.repositories.domains import DomainRepository
    from chalicelib.repositories.dynamo import Table
    from chalicelib.repositories.imports import ImportRepository

    table = Table()
    records, _ = ImportRepository(table).list_imports(domain, 5, None)
    if len(records) != 1:
        return 0, [f"{len(records)} import records in {domain}, expected 1"]
    record = records[0]
    problems = []
    if record.status != "completed":
        problems.append(f"the import ended {record.status!r} ({record.error})")
    if record.counts["created"] != rows or record.counts["rows"] != rows:
        problems.append(f"the import counts {record.counts}, expected {rows} rows created")
    if not record.invited:
        problems.append("the import is not marked invited")
    found = DomainRepository(table).get(domain)
    if found is None or found.seats_used != rows + 1:
        problems.append(f"seats used: {found.seats_used if found else None}, expected {rows + 1}")
    return record.counts["created"], problems


# --- the two paths -----------------------------------------------------------------------------------


def run_ours(client: Any, log: CallLog, domain: str, rows: int) -> PathResult:
    body = _csv(domain, rows)
    log.take()
    log.take_transacted()
    started = time.perf_counter()
    _put(f"imports/{domain}/users.csv", body, {"send-invites": "true"})
    deliveries = _drive(client, log, limit=rows + 1000)
    seconds = time.perf_counter() - started
    calls, op_seconds, items, invitations, emails = log.take()
    transacted = log.take_transacted()
    created, problems = _check_import(domain, rows)
    if invitations != rows:
        problems.append(f"{invitations} invitations sent, expected {rows}")
    return PathResult(
        "ours", rows, seconds, calls, op_seconds, items, invitations, emails, created, deliveries, problems,
        transacted,
    )  # fmt: skip


def run_naive(log: CallLog, domain: str, rows: int) -> PathResult:
    """GetItem + PutItem per row (each item on its own), one SendEmail per invitation."""
    from chalicelib.core import aws, ids
    from chalicelib.core.config import get_settings
    from chalicelib.domain.models import Role, User, UserStatus
    from chalicelib.notifications.email import INVITATION
    from chalicelib.repositories.dynamo import Table, key
    from chalicelib.repositories.groups import GroupRepository
    from chalicelib.repositories.invites import Invite, InviteRepository
    from chalicelib.repositories.users import UserIndexRepository, UserRepository
    from chalicelib.services import tokens
    from chalicelib.services.memberships import DefaultGroupJoiner
    from chalicelib.services.users import INVITE_LIFETIME

    settings = get_settings()
    table = Table()
    users, index, invites = UserRepository(table), UserIndexRepository(table), InviteRepository(table)
    joiner = DefaultGroupJoiner(table, GroupRepository(table))
    object_key = f"naive-imports/{domain}/users.csv"  # not under imports/: no S3 event
    _put(object_key, _csv(domain, rows))
    dynamodb, ses, s3 = aws.dynamodb(), aws.ses(), aws.s3()
    log.take()
    created = skipped = 0
    started = time.perf_counter()
    with log.counting():
        defaults = joiner.default_groups(domain)
        stream = s3.get_object(Bucket=settings.bucket, Key=object_key)["Body"]
        for row in csv.DictReader(line.decode() for line in stream.iter_lines()):
            email = row["Email"].strip().lower()
            found = dynamodb.get_item(
                TableName=table.name, Key=key(*users.email_key(domain, email)), ConsistentRead=True
            )
            if "Item" in found:
                skipped += 1
                continue
            now = datetime.now(UTC)
            user = User(
                ids.new_id(),
                domain,
                email,
                row["First Name"],
                row["Last Name"],
                Role.MEMBER,
                UserStatus.INVITED,
                now,
                title=row["Title"],
            )
            token = tokens.new_token(domain, user.id)
            invite = Invite(tokens.hash_token(token), now + INVITE_LIFETIME, now)
            operations = [
                *users.create_ops(user, None),
                *index.put_ops(user),
                *joiner.join_ops(user, now, is_new_user=True, defaults=defaults),
                invites.put_op(domain, user.id, invite),
            ]
            for operation in operations:
                dynamodb.put_item(**operation["Put"])
            fill = {
                "{{name}}": user.first_name or email,
                "{{domain}}": domain,
                "{{link}}": f"{settings.public_url}/accept-invite?token={token}",
            }
            subject, text = INVITATION.subject, INVITATION.text
            for placeholder, value in fill.items():
                subject, text = subject.replace(placeholder, value), text.replace(placeholder, value)
            ses.send_email(
                Source=settings.email_sender,
                Destination={"ToAddresses": [email]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
            created += 1
    seconds = time.perf_counter() - started
    calls, op_seconds, items, _, emails = log.take()
    problems = (
        [] if created == rows else [f"the naive import created {created} of {rows} ({skipped} skipped)"]
    )
    return PathResult("naive", rows, seconds, calls, op_seconds, items, emails, 0, created, 0, problems)


# --- peak memory -------------------------------------------------------------------------------------


@dataclass
class RssResult:
    rows: int
    startup_kib: int
    peak_kib: int
    seconds: float
    deliveries: int
    problems: list[str]
    calls: Counter[str]
    op_seconds: dict[str, float]


def peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM), KiB. Not getrusage's ru_maxrss: on Linux a
    process started by fork + exec inherits in ru_maxrss the peak of the forked image, i.e. the
    parent's RSS at the fork (the bench's own ~125 MB would hide the handler's)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise SystemExit("bench: no VmHWM in /proc/self/status")


def rss_child(rows: int, domain: str) -> None:
    """The handler's process: imports the app, delivers the queues (the parent put the file),
    prints its peak RSS. Nothing else runs in it."""
    _isolate_path()
    from chalicelib.core import aws
    from chalicelib.core.config import reset_settings

    reset_settings()
    aws.reset_clients()
    log = CallLog()  # the handlers' calls, by operation: what the time of a large import goes to
    create = aws._create
    aws._create = lambda service: log.hook(create(service))
    from chalice.test import Client

    from app import app

    logging.getLogger().setLevel(logging.WARNING)
    with Client(app) as client:
        startup = peak_rss_kib()
        started = time.perf_counter()
        deliveries = _drive(client, log, limit=rows + 1000)
        seconds = time.perf_counter() - started
        peak = peak_rss_kib()
        _, problems = _check_import(domain, rows)
    calls, op_seconds, *_ = log.take()
    answer = {
        "rows": rows,
        "startup_kib": startup,
        "peak_kib": peak,
        "seconds": seconds,
        "deliveries": deliveries,
        "problems": problems,
        "calls": calls,
        "op_seconds": op_seconds,
    }
    print(RESULT_PREFIX + json.dumps(answer), flush=True)


def run_rss(http: Any, rows: int) -> RssResult:
    """Provisions a domain and puts its file (here, not in the measured process), then runs the
    handler's process over it."""
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    domain = f"rss-{rows}"
    _provision(http, domain, rows)
    _put(f"imports/{domain}/users.csv", _csv(domain, rows), {"send-invites": "true"})
    url = aws.sqs().get_queue_url(QueueName=get_settings().s3_events_queue)["QueueUrl"]
    attributes = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    if attributes["Attributes"]["ApproximateNumberOfMessages"] == "0":
        raise SystemExit("bench: the S3 event of the dropped file did not reach its queue")
    command = [sys.executable, str(Path(__file__).resolve()), "--rss", str(rows), "--domain", domain]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise SystemExit(
            f"bench: the --rss {rows} process failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    answer = json.loads(lines[-1].removeprefix(RESULT_PREFIX))
    return RssResult(
        rows,
        int(answer["startup_kib"]),
        int(answer["peak_kib"]),
        float(answer["seconds"]),
        int(answer["deliveries"]),
        list(answer["problems"]),
        Counter(answer["calls"]),
        dict(answer["op_seconds"]),
    )


# --- the report --------------------------------------------------------------------------------------


def _report(ours: PathResult, naive: PathResult, rss: list[RssResult], patched: bool) -> list[str]:
    failures: list[str] = []
    emulator = "moto server" + (", patched (see the docstring)" if patched else ", unpatched")
    print(f"CSV import of {ours.rows:,} new users: our path vs a naive per-row importer ({emulator})")
    print("  our path: S3 put -> on_s3_event -> import job, inviting chunk by chunk (each message once)")
    print("  naive: GetObject, then per row GetItem + one PutItem per item + one SES SendEmail")
    print()
    print(f"  {'':<34} {'ours':>12} {'naive':>12}")
    print(f"  {'seconds':<34} {ours.seconds:>12.1f} {naive.seconds:>12.1f}")
    print(f"  {'rows/s':<34} {ours.rows_per_second:>12.0f} {naive.rows_per_second:>12.1f}")
    print(f"  {'AWS calls':<34} {ours.total_calls:>12,} {naive.total_calls:>12,}")
    print(
        f"  {'AWS calls / 1 000 rows':<34} {ours.per_thousand(ours.total_calls):>12.1f}"
        f" {naive.per_thousand(naive.total_calls):>12.1f}"
    )
    print(f"  {'DynamoDB items written':<34} {ours.items_written:>12,} {naive.items_written:>12,}")
    print(f"  {'invitation emails sent':<34} {ours.invitations:>12,} {naive.invitations:>12,}")
    print(f"  {'other emails (the admin summary)':<34} {ours.emails:>12,} {naive.emails:>12,}")
    print(f"  {'users created':<34} {ours.created:>12,} {naive.created:>12,}")
    print(f"  {'handler invocations':<34} {ours.deliveries:>12,} {'-':>12}")

    speed = ours.rows_per_second / naive.rows_per_second
    verdict = "OK" if speed >= SPEED_TARGET else "MISS"
    print(f"\n  throughput ours / naive = {speed:.1f}x  (target >= {SPEED_TARGET:.0f}x) {verdict}")
    if verdict == "MISS":
        failures.append(
            f"throughput {ours.rows_per_second:.0f} rows/s = {speed:.1f}x the naive"
            f" {naive.rows_per_second:.1f} rows/s (target >= {SPEED_TARGET:.0f}x)"
        )
    floor = ours.floor
    ratio = ours.total_calls / floor
    verdict = "OK" if ratio <= FLOOR_TARGET else "MISS"
    print(
        f"  floor = ceil({ours.items_transacted:,} items transacted / {TRANSACTION})"
        f" + ceil({ours.items_written - ours.items_transacted:,} other items written / {BATCH_WRITE})"
        f" + ceil({ours.rows:,} rows / {BATCH_READ}) = {floor:,}"
        f"  ({ours.per_thousand(floor):.1f} / 1 000 rows)"
    )
    print(
        f"  calls / floor: ours {ours.total_calls:,} / {floor:,} = {ratio:.2f}"
        f"  (target <= {FLOOR_TARGET:.2f}) {verdict};"
        f"  naive {naive.total_calls:,} / {floor:,} = {naive.total_calls / floor:.2f}"
    )
    if verdict == "MISS":
        failures.append(
            f"{ours.total_calls} calls = {ratio:.2f}x the floor {floor} (target <= {FLOOR_TARGET});"
            f" by operation: {dict(ours.calls.most_common())}"
        )

    print(f"\n  {'AWS calls by operation':<40} {'ours':>8} {'naive':>8} {'ours s':>8} {'naive s':>8}")
    operations = sorted(set(ours.calls) | set(naive.calls), key=lambda op: (-ours.calls[op], op))
    for op in operations:
        print(
            f"  {op:<40} {ours.calls[op]:>8,} {naive.calls[op]:>8,}"
            f" {ours.op_seconds.get(op, 0.0):>8.1f} {naive.op_seconds.get(op, 0.0):>8.1f}"
        )
    outside = [r.seconds - sum(r.op_seconds.values()) for r in (ours, naive)]
    print(f"  {'outside the counted calls':<40} {'':>8} {'':>8} {outside[0]:>8.1f} {outside[1]:>8.1f}")

    print("\n  Peak RSS of the handler's process (VmHWM; a fresh process each, see peak_rss_kib)")
    print(f"  {'rows':>9} {'after start KiB':>16} {'peak KiB':>10} {'seconds':>9} {'invocations':>12}")
    for r in rss:
        print(f"  {r.rows:>9,} {r.startup_kib:>16,} {r.peak_kib:>10,} {r.seconds:>9.1f} {r.deliveries:>12,}")
    for r in rss:
        slowest = sorted(r.op_seconds.items(), key=lambda item: -item[1])[:4]
        shown = ", ".join(f"{op} {r.calls[op]:,} calls {s:.0f} s" for op, s in slowest)
        print(f"  {r.rows:>9,} rows: {sum(r.calls.values()):,} calls; slowest: {shown}")
    if len(rss) == 2:
        small, big = rss
        growth = big.peak_kib - small.peak_kib
        verdict = "OK" if growth <= RSS_TARGET_KIB else "MISS"
        print(
            f"  peak at {big.rows:,} - peak at {small.rows:,} = {growth:,} KiB"
            f" = {growth * 1024 / 1e6:.1f} MB  (target <= 20 MB) {verdict}"
        )
        if verdict == "MISS":
            failures.append(
                f"peak RSS {big.peak_kib:,} KiB at {big.rows:,} rows is {growth * 1024 / 1e6:.1f} MB"
                f" above the {small.peak_kib:,} KiB at {small.rows:,} (target <= 20 MB)"
            )
    for result in (ours, naive):
        failures += [f"{result.label}: {p}" for p in result.problems]
    for r in rss:
        failures += [f"--rss {r.rows}: {p}" for p in r.problems]
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=ROWS, help="rows of the throughput runs")
    parser.add_argument("--rss-rows", default=",".join(map(str, RSS_ROWS)), help="rows of the RSS runs")
    parser.add_argument("--unpatched-emulator", action="store_true", help="moto server as it is")
    parser.add_argument("--rss", type=int, metavar="ROWS", help=argparse.SUPPRESS)
    parser.add_argument("--domain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    patched = not args.unpatched_emulator
    if args.rss:  # the handler's process of a --rss run: the parent set the environment
        rss_child(args.rss, args.domain)
        return 0

    _isolate_path()
    emulator, url = start_emulator(patched)
    try:
        _configure(url)
        from chalicelib.core import aws

        log = CallLog()
        original_create = aws._create
        aws._create = lambda service: log.hook(original_create(service))
        from localdev.run import provision_resources

        provision_resources(os.environ["AWS_REGION"])
        from chalice.test import Client

        from app import app

        logging.getLogger().setLevel(logging.WARNING)  # the app's INFO lines would mix into the table
        with Client(app) as client:
            _drive(client, None, limit=10)  # S3's test event, from the bucket's notification
            _provision(client.http, "bench-ours", args.rows)
            _provision(client.http, "bench-naive", args.rows)
            ours = run_ours(client, log, "bench-ours", args.rows)
            print(f"  (our path: {ours.seconds:.1f} s)", file=sys.stderr, flush=True)
            naive = run_naive(log, "bench-naive", args.rows)
            print(f"  (naive: {naive.seconds:.1f} s)", file=sys.stderr, flush=True)
            rss = []
            for rows in (int(n) for n in args.rss_rows.split(",") if n):
                rss.append(run_rss(client.http, rows))
                print(f"  (--rss {rows}: {rss[-1].seconds:.1f} s)", file=sys.stderr, flush=True)
        aws._create = original_create
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
    failures = _report(ours, naive, rss, patched)
    from bench.harness import conclude

    return conclude(failures)


if __name__ == "__main__":
    sys.exit(main())
