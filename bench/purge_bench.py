"""AWS calls and time of the deletion of a whole domain, beside a small and a large other domain.

Run: `.venv/bin/python bench/purge_bench.py` (about 2 minutes on 2 cores; `--others 1000 20000`
makes a shorter run). Needs no emulator: moto runs in-process, with localdev/emulator.py's speed
patches (patch_moto: a Query reads its partition, a TransactWriteItems backs up the items it
writes, not the table; the answers stay moto's) and its DynamoDB checks (patch_dynamodb_checks:
what DynamoDB refuses, refused). Unpatched, each Query of moto sorts the whole table (seconds
beside 100 000 items): the purge's ~500 Queries would take tens of minutes, and time moto.

The doomed domain `bench` (~10 000 items, 200 S3 objects) is seeded through the project's own
write paths, so that its registry of partitions (repositories/partitions.py) is what production
writes: provisioned by `POST /platform/domains` (its admin, the two default groups); USERS users
(UserRepository.create_ops + UserIndexRepository.put_ops, a seat each, one transaction a user);
GROUPS groups of MEMBERS members (GroupRepository.create_ops); FILES files
(FileRepository.create, an S3 object each), ATTACHED_IN_GROUPS of them carried by group messages
and ATTACHED_IN_CHATS by chat messages (FileRepository.attachment_ops); CHATS private chats
(ChatRepository.touch_ops: the "chat of a user" items of both sides) of CHAT_MESSAGES messages;
GROUP_MESSAGES group messages (MessageRepository.to_item, with the chat messages in
Table.batch_write). The chats' second users are spread over the registry, so that the purge
meets some chats again after it emptied them (as it does in production). The bench's ids are
made a millisecond apart, in the order of creation, so that the registry sorts the same way in
both scenarios. Then the domain is suspended (`POST .../suspend`, not counted).

The other domain `other` is made of copies of the doomed domain's items (as seeded: `bench`
made `other`, every id suffixed with the copy's number, every email made the copy's own), written
with Table.batch_write, with the S3 object of each copied file: A = 1 000 items, B = 100 000.
Seeding is not counted (its time is printed).

Counted: from `DELETE /platform/domains/bench` (chalice test Client) until the jobs queue is
drained into the `on_job` handler: every AWS call of the request and of every job step, SQS
included, with the ReceiveMessage/DeleteMessage of each delivered job message (each delivered
once; the drain's own GetQueueUrl and last, empty poll are not counted).

The floor, from what was seeded (every item of the domain in the table before the DELETE, read
from moto's store outside the counted span, and checked against the keys the seeding wrote):
ceil(items / 25) BatchWriteItem + ceil(S3 objects / 1000) DeleteObjects + one ListObjectsV2 per
S3 prefix the purge lists (domain_purge.object_prefixes) + one Query page (up to 1 000 items) per
partition holding the domain's data: every registered partition (the registry entries' `parts`)
and conversation (the private chats seeded), every fixed partition (keys.fixed_partitions), the
domain's jobs index. Anything else (registry reads, the domain's GetItem and the job's writes of
each step, the request's own calls, SQS, the registry entries of the conversations written with
the deletes) is counted against us.

Targets: the calls per operation are the same in A and B (the purge does not depend on the other
domain's size), and calls / floor <= 1.25 in both. Verified after the job (moto's store read
whole, the test-side Scan: moto's own Scan answers take minutes to serialize 100 000 items):
no item nor S3 object of `bench` is left, every item and object of `other` is there, unchanged.
Times are printed as a ratio against scenario A of the same run, split by AWS operation (emulator
times, not Lambda's; no target). Exit status 1 when a target is missed or the purge removed the
wrong items.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.harness import CallLog

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_KEY = "bench-platform-key"
DOMAIN = "bench"  # the doomed domain
OTHER = "other"  # the domain beside it, which must stay whole
ADMIN_EMAIL = f"admin@{DOMAIN}.local"
PASSWORD = "a long bench password"  # noqa: S105 - the bench domain's admin, in moto only

USERS = 100
GROUPS = 10
MEMBERS = 20  # of each group, its creator (a group admin) first
GROUP_MESSAGES = (2500, *(500,) * (GROUPS - 1))  # the first group's take three Query pages
FILES = 200
ATTACHED_IN_GROUPS = 80  # files carried by a group message (an attachment item each)
ATTACHED_IN_CHATS = 20  # files carried by a chat message
CHATS = 40
CHAT_MESSAGES = 30
SCENARIOS = (("A", 1_000), ("B", 100_000))  # items of the other domain
PAGE = 1000  # items a Query page of the purge reads (services/erasing.PAGE)
BATCH = 25  # deletes a BatchWriteItem
S3_BATCH = 1000  # keys a DeleteObjects
QUERY_LINES = 30  # of the Query log printed

KeyPair = tuple[str, str]
ID = re.compile(r"\b[0-9a-hjkmnp-tv-z]{26}\b")  # chalicelib.core.ids


@dataclass
class Doomed:
    """The doomed domain as seeded: what it holds, and the partitions its purge must read."""

    items: dict[KeyPair, dict[str, Any]]  # raw (DynamoDB JSON), by key, as the table holds them
    written: set[KeyPair]  # the keys the bench's own direct writes made
    routes: int  # items the routes wrote (provisioning, suspension)
    objects: list[str]
    conversations: list[str]  # the private chats' message partitions (registered by the purge)
    aliases: dict[str, str]  # ids by role, for the Query log
    kinds: Counter[str] = field(default_factory=Counter)  # what was seeded, for the header

    @property
    def registered(self) -> list[str]:
        """Every partition the registry names (each entry's `parts`)."""
        return [
            p["S"] for i in self.items.values() if i["type"]["S"] == "partitions" for p in i["parts"]["L"]
        ]

    def floor_partitions(self) -> list[tuple[str, int]]:
        """(partition, Query pages) of every partition the purge must read: one page per
        PAGE items, at least one (an empty partition answers one empty page)."""
        from chalicelib.repositories import keys

        sizes = Counter(pk for pk, _ in self.items)
        names = [*self.registered, *self.conversations, *keys.fixed_partitions(DOMAIN)]
        pages = [(name, max(1, math.ceil(sizes[name] / PAGE))) for name in names]
        return [*pages, (keys.domain_jobs_gsi2pk(DOMAIN), 1)]  # the jobs index: the domain has none

    def uncovered(self) -> list[str]:
        """Partitions holding the domain's items that no floor page reads (nor the registry,
        nor the META and listing items, which go by key): the floor would be wrong."""
        from chalicelib.repositories import keys

        read = {name for name, _ in self.floor_partitions()}
        by_key = {keys.partitions_pk(DOMAIN), keys.domain_pk(DOMAIN), keys.platform_domains_pk()}
        return sorted({pk for pk, _ in self.items} - read - by_key)


@dataclass
class Result:
    label: str
    others: int
    calls: list[str]
    queries: list[str]
    op_seconds: dict[str, float]
    seconds: float
    setup: dict[str, float]
    deliveries: int
    job: dict[str, Any]
    doomed: Doomed
    other_objects: int
    problems: list[str] = field(default_factory=list)

    @property
    def by_operation(self) -> Counter[str]:
        return Counter(self.calls)

    @property
    def floor_share(self) -> dict[str, int]:
        from chalicelib.services.domain_purge import object_prefixes

        per_prefix = Counter(
            next(p for p in object_prefixes(DOMAIN) if k.startswith(p)) for k in self.doomed.objects
        )
        return {
            "dynamodb.BatchWriteItem": math.ceil(len(self.doomed.items) / BATCH),
            "dynamodb.Query": sum(pages for _, pages in self.doomed.floor_partitions()),
            "s3.DeleteObjects": math.ceil(len(self.doomed.objects) / S3_BATCH),
            "s3.ListObjectsV2": sum(
                max(1, math.ceil(per_prefix[p] / S3_BATCH)) for p in object_prefixes(DOMAIN)
            ),
        }

    @property
    def floor(self) -> int:
        return sum(self.floor_share.values())


# --- seeding -----------------------------------------------------------------------------------------


def _expect(
    http: Any, status: int, method: str, path: str, token: str | None = None, body: Any = None
) -> Any:
    from bench.harness import expect

    return expect(http, PLATFORM_KEY, status, method, path, token, body)


def _op_key(operation: dict[str, Any]) -> KeyPair:
    """The key of a transaction's operation (a Put's item, an Update's key)."""
    ((kind, body),) = operation.items()
    raw = body["Item"] if kind == "Put" else body["Key"]
    return raw["pk"]["S"], raw["sk"]["S"]


def _owner(raw: dict[str, Any]) -> str | None:
    """The domain an item belongs to: the one its partition names, or its `domain` attribute
    (the operator's listing entry)."""
    pk = raw["pk"]["S"]
    if pk.startswith("D#"):
        return str(pk.split("#")[1])
    named = raw.get("domain", {}).get("S")
    return str(named) if named else None


def _stored(domains: tuple[str, ...]) -> dict[str, dict[KeyPair, dict[str, Any]]]:
    """Every item of these domains, raw (DynamoDB JSON), by key: a test-side Scan (the app
    never scans), read from moto's store itself, since moto's serialization of a Scan answer
    takes minutes for 100 000 items."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.core.config import get_settings
    from chalicelib.repositories.dynamo import Table

    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][get_settings().region].get_table(Table().name)
    found: dict[str, dict[KeyPair, dict[str, Any]]] = {d: {} for d in domains}
    for partition in list(table.items.values()):
        for item in list(partition.values()) if isinstance(partition, dict) else [partition]:
            raw = item.to_json()["Attributes"]
            owner = _owner(raw)
            if owner in found:
                found[owner][(raw["pk"]["S"], raw["sk"]["S"])] = raw
    return found


def _objects(prefix: str) -> set[str]:
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    listed = aws.s3().get_paginator("list_objects_v2").paginate(Bucket=get_settings().bucket, Prefix=prefix)
    return {o["Key"] for page in listed for o in page.get("Contents", [])}


class _Seeder:
    """The doomed domain through the project's write paths (direct writes, not counted). Ids
    are made one millisecond apart, in the order of creation: the registry then sorts the
    same way in every run (two ids of one millisecond sort at random)."""

    def __init__(self, http: Any) -> None:
        from chalicelib.repositories.dynamo import Table

        self.http = http
        self.table = Table()
        self.now = datetime.now(UTC)
        self._ms = itertools.count(int(self.now.timestamp() * 1000) - 3_600_000)
        self.written: set[KeyPair] = set()
        self.aliases: dict[str, str] = {}
        self.kinds: Counter[str] = Counter()
        self.objects: list[str] = []

    def new_id(self) -> str:
        from chalicelib.core.ids import new_id

        return new_id(next(self._ms))

    def transact(self, operations: list[dict[str, Any]]) -> None:
        self.table.transact(operations)
        self.written.update(_op_key(op) for op in operations)

    def seed(self) -> Doomed:
        from chalicelib.repositories import keys

        self.provision()
        users = self.users()
        groups = self.groups(users)
        # the second users spread over the registry, some past the page of entries that registers
        # their conversations: the purge meets those chats again once it has emptied them
        chats = [(users[c % 20], users[20 + 2 * c]) for c in range(CHATS)]
        self.chats(chats)
        # each attached file is its carrier's: the n-th message of a group (n < ATTACHED_IN_GROUPS
        # / GROUPS) carries file `group + n * GROUPS`, posted by members[n]; the first message of
        # chat c (c < ATTACHED_IN_CHATS) carries file ATTACHED_IN_GROUPS + c, by its first user
        owners = [groups[n % GROUPS][1][n // GROUPS % MEMBERS] for n in range(ATTACHED_IN_GROUPS)]
        owners += [chats[c][0] for c in range(ATTACHED_IN_CHATS)]
        owners += [users[n % USERS] for n in range(len(owners), FILES)]
        files = self.files(owners)
        self.messages(groups, chats, files)
        return Doomed(
            items={},
            written=self.written,
            routes=0,
            objects=self.objects,
            conversations=[keys.chat_messages_pk(DOMAIN, a.id, b.id) for a, b in chats],
            aliases=self.aliases,
            kinds=self.kinds,
        )

    def provision(self) -> None:
        admin = {"email": ADMIN_EMAIL, "first_name": "B", "last_name": "A", "password": PASSWORD}
        body = {"domain": DOMAIN, "plan": "business", "billing": "monthly", "seats": 2 * USERS}
        provisioned = _expect(self.http, 201, "POST", "/platform/domains", body={**body, "admin": admin})
        self.aliases[provisioned["admin"]["id"]] = "<admin>"
        self.aliases |= {g["id"]: f"<dg{n}>" for n, g in enumerate(provisioned["default_groups"])}

    def users(self) -> list[Any]:
        from chalicelib.domain.models import Role, User, UserStatus
        from chalicelib.repositories.domains import DomainRepository
        from chalicelib.repositories.users import UserIndexRepository, UserRepository

        repo, index = UserRepository(self.table), UserIndexRepository(self.table)
        seat = DomainRepository(self.table).counters_op(DOMAIN, seats=1)
        users = []
        for n in range(USERS):
            email = f"user{n:03d}@{DOMAIN}.local"
            user = User(
                self.new_id(), DOMAIN, email, f"F{n}", f"L{n}", Role.MEMBER, UserStatus.ACTIVE, self.now
            )
            self.transact([*repo.create_ops(user, None), *index.put_ops(user), seat])
            self.aliases[user.id] = f"<u{n}>"
            users.append(user)
        self.kinds["users"] = USERS
        return users

    def groups(self, users: list[Any]) -> list[tuple[Any, list[Any]]]:
        from chalicelib.domain.models import Group, GroupRole
        from chalicelib.repositories.groups import GroupRepository

        groups = []
        for g in range(GROUPS):
            members = [users[(g * 7 + m) % USERS] for m in range(MEMBERS)]
            group = Group(self.new_id(), DOMAIN, f"Group {g}", "", members[0].id, False, self.now)
            roles = [(u.id, GroupRole.ADMIN if m == 0 else GroupRole.MEMBER) for m, u in enumerate(members)]
            self.transact(GroupRepository(self.table).create_ops(group, roles, self.now))
            self.aliases[group.id] = f"<g{g}>"
            groups.append((group, members))
        self.kinds["groups"] = GROUPS
        return groups

    def chats(self, chats: list[tuple[Any, Any]]) -> None:
        """The "chat of a user" items of both sides, as the first message of a chat writes them."""
        from chalicelib.repositories.chats import ChatRepository

        repo = ChatRepository(self.table)
        for a, b in chats:
            self.transact(repo.touch_ops(DOMAIN, a.id, b.id, self.now))
        self.kinds["private chats"] = len(chats)

    def files(self, owners: list[Any]) -> list[str]:
        from chalicelib.core import aws
        from chalicelib.core.config import get_settings
        from chalicelib.domain.models import File
        from chalicelib.repositories import partitions
        from chalicelib.repositories.files import FileRepository, object_key

        s3, bucket, repo = aws.s3(), get_settings().bucket, FileRepository(self.table)
        file_ids = []
        for n, owner in enumerate(owners):
            file_id, name = self.new_id(), f"file{n}.txt"
            key = object_key(DOMAIN, file_id, name)
            s3.put_object(Bucket=bucket, Key=key, Body=b"bench")
            file = File(file_id, DOMAIN, owner.id, name, "text/plain", 5, key, self.now)
            repo.create(file)
            made = (FileRepository.to_item(file), partitions.file_entry(DOMAIN, file_id))
            self.written.update((i["pk"], i["sk"]) for i in made)
            self.aliases[file_id] = f"<f{n}>"
            self.objects.append(key)
            file_ids.append(file_id)
        self.kinds["files"] = len(owners)
        return file_ids

    def messages(
        self, groups: list[tuple[Any, list[Any]]], chats: list[tuple[Any, Any]], files: list[str]
    ) -> None:
        """Group and chat messages (Table.batch_write), the attachment items of those that carry
        a file (one transaction a hundred)."""
        from chalicelib.core.ids import new_id
        from chalicelib.domain.models import Conversation, Message
        from chalicelib.repositories.dynamo import Item
        from chalicelib.repositories.files import FileRepository
        from chalicelib.repositories.messages import MessageRepository

        messages: list[Item] = []
        attachments: list[dict[str, Any]] = []
        repo = FileRepository(self.table)

        def post(conversation: Conversation, author: Any, carried: list[str]) -> None:
            message = Message(new_id(), conversation, author.id, "bench", tuple(carried), self.now)
            messages.append(MessageRepository.to_item(message))
            attachments.extend(repo.attachment_ops(message))

        for g, (group, members) in enumerate(groups):
            conversation = Conversation.of_group(DOMAIN, group.id)
            for n in range(GROUP_MESSAGES[g]):
                carried = [files[g + n * GROUPS]] if n < ATTACHED_IN_GROUPS // GROUPS else []
                post(conversation, members[n % MEMBERS], carried)
        for c, (a, b) in enumerate(chats):
            conversation = Conversation.of_chat(DOMAIN, a.id, b.id)
            for n in range(CHAT_MESSAGES):
                carried = [files[ATTACHED_IN_GROUPS + c]] if n == 0 and c < ATTACHED_IN_CHATS else []
                post(conversation, (a, b)[n % 2], carried)
        if len(attachments) != ATTACHED_IN_GROUPS + ATTACHED_IN_CHATS:
            raise SystemExit(
                f"bench: {len(attachments)} files attached, meant {ATTACHED_IN_GROUPS + ATTACHED_IN_CHATS}"
            )
        self.table.batch_write(puts=messages)
        self.written.update((m["pk"], m["sk"]) for m in messages)
        for start in range(0, len(attachments), 100):
            self.transact(attachments[start : start + 100])
        self.kinds["group messages"] = sum(GROUP_MESSAGES)
        self.kinds["chat messages"] = CHATS * CHAT_MESSAGES
        self.kinds["attachments"] = len(attachments)


def _copies(source: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """`size` items of the other domain (distinct keys), raw: copies of the doomed domain's
    items, `bench` made `other`, ids suffixed with the copy's number, emails made its own."""
    texts = [json.dumps(raw) for raw in source]
    random.Random(17).shuffle(texts)  # a small domain gets some of every kind
    made: dict[KeyPair, dict[str, Any]] = {}
    copy = 0
    while len(made) < size:
        for text in texts:
            raw = json.loads(_copy_of(text, copy))
            made[(raw["pk"]["S"], raw["sk"]["S"])] = raw
            if len(made) == size:
                break
        copy += 1
    return list(made.values())


def _copy_of(text: str, copy: int) -> str:
    """An item of the doomed domain (its JSON) as the other domain's copy number `copy`."""
    text = text.replace(f"@{DOMAIN}.local", f".{copy}@{OTHER}.local")
    return ID.sub(lambda found: f"{found.group(0)}-{copy}", text).replace(DOMAIN, OTHER)


def _seed_other(source: list[dict[str, Any]], size: int) -> tuple[dict[KeyPair, dict[str, Any]], set[str]]:
    """The other domain: its items with Table.batch_write, and the S3 object of each copied file."""
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from chalicelib.repositories.dynamo import Table, from_raw

    items = _copies(source, size)
    Table().batch_write(puts=[from_raw(raw) for raw in items])
    s3, bucket = aws.s3(), get_settings().bucket
    objects = {raw["s3_key"]["S"] for raw in items if raw["type"]["S"] == "file"}
    for key in objects:
        s3.put_object(Bucket=bucket, Key=key, Body=b"other")
    return {(raw["pk"]["S"], raw["sk"]["S"]): raw for raw in items}, objects


# --- the run -----------------------------------------------------------------------------------------


def _verify(
    doomed: Doomed, other_items: dict[KeyPair, dict[str, Any]], other_objects: set[str], job: dict[str, Any]
) -> list[str]:
    """Nothing of the doomed domain is left (items nor objects), everything of the other domain
    is there as it was."""
    from chalicelib.services.domain_purge import object_prefixes

    problems: list[str] = []
    if job.get("status") != "succeeded":
        problems.append(f"the job ended {job.get('status')!r}: {job.get('result')}")
    deleted, seeded = int(job.get("result", {}).get("deleted_items", 0)), len(doomed.items)
    if deleted < seeded:  # more is fine: the conversations' registry entries, written by the purge
        problems.append(f"the job reports {deleted} items deleted, fewer than the {seeded} seeded")
    found = _stored((DOMAIN, OTHER))
    if left := sorted(found[DOMAIN]):
        problems.append(f"{len(left)} items of {DOMAIN} are left, e.g. {left[:3]}")
    if missing := len(set(other_items) - set(found[OTHER])):
        problems.append(f"{missing} of the {len(other_items)} items of {OTHER} are gone")
    if changed := sum(1 for k, raw in found[OTHER].items() if other_items.get(k) != raw):
        problems.append(f"{changed} items of {OTHER} were changed or added")
    if left_objects := sorted(k for p in object_prefixes(DOMAIN) for k in _objects(p)):
        problems.append(f"{len(left_objects)} S3 objects of {DOMAIN} are left, e.g. {left_objects[:3]}")
    if missing := len(other_objects - _objects(f"files/{OTHER}/")):
        problems.append(f"{missing} of the {len(other_objects)} S3 objects of {OTHER} are gone")
    return problems


def run_scenario(label: str, others: int, log: CallLog) -> Result:
    from bench.harness import JOBS_QUEUE, drain, moto_app
    from chalicelib.core import aws

    with moto_app() as client:
        started = time.perf_counter()
        doomed = _Seeder(client.http).seed()
        seeded = _stored((DOMAIN,))[DOMAIN]  # what the other domain copies (before the suspension)
        _expect(client.http, 200, "POST", f"/platform/domains/{DOMAIN}/suspend")
        doomed.items = _stored((DOMAIN,))[DOMAIN]
        doomed.routes = len(set(doomed.items) - doomed.written)
        setup = {DOMAIN: time.perf_counter() - started}

        started = time.perf_counter()
        other_items, other_objects = _seed_other(list(seeded.values()), others)
        setup[OTHER] = time.perf_counter() - started
        problems = [f"seeded, not in the table: {k}" for k in sorted(doomed.written - set(doomed.items))[:3]]
        problems += [f"a partition of {DOMAIN} the floor does not read: {p}" for p in doomed.uncovered()]
        if set(doomed.objects) != _objects(f"files/{DOMAIN}/"):
            problems.append(f"the S3 objects of {DOMAIN} are not the ones seeded")
        queue = aws.sqs().get_queue_url(QueueName=JOBS_QUEUE)["QueueUrl"]
        waiting = aws.sqs().get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )
        if int(waiting["Attributes"]["ApproximateNumberOfMessages"]):
            problems.append("the jobs queue held messages before the DELETE")
        del seeded
        gc.collect()
        gc.freeze()  # the seeded items stay out of the collections of the counted span

        log.aliases = {**doomed.aliases, f"D#{DOMAIN}": "D#<d>"}
        log.clear()
        started = time.perf_counter()
        answer = _expect(client.http, 202, "DELETE", f"/platform/domains/{DOMAIN}")
        deliveries = drain(client, log)
        seconds = time.perf_counter() - started
        calls, queries, op_seconds = list(log.calls), list(log.queries), dict(log.seconds)

        job = _expect(client.http, 200, "GET", f"/platform/jobs/{answer['job_id']}")
        problems += _verify(doomed, other_items, other_objects, job)
    gc.unfreeze()
    return Result(
        label,
        len(other_items),
        calls,
        queries,
        op_seconds,
        seconds,
        setup,
        deliveries,
        job,
        doomed,
        len(other_objects),
        problems,
    )


# --- the report --------------------------------------------------------------------------------------

PARTITION_KINDS = (  # (kind, pattern of the partition's name after `D#<domain>`), first match
    ("registry", r"#PARTS"),
    ("user", r"#U#[^#]+"),
    ("email", r"#E#.+"),
    ("group", r"#G#[^#]+"),
    ("group messages", r"#G#[^#]+#MSGS"),
    ("group relay", r"#G#[^#]+#RELAY"),
    ("file", r"#F#[^#]+"),
    ("conversation", r"#C#[^#]+#[^#]+#MSGS"),
    ("jobs index", r"#JOBS"),
)


def _kind(partition: str) -> str:
    rest = re.sub(r"^D#[^#]+", "", partition.split(" ", maxsplit=1)[0])
    return next((kind for kind, pattern in PARTITION_KINDS if re.fullmatch(pattern, rest)), "fixed")


def _query_kinds(r: Result) -> Counter[str]:
    return Counter(_kind(line.split()[1]) for line in r.queries)


def _print_header(a: Result, b: Result) -> None:
    d = a.doomed
    print(
        "Domain deletion: AWS calls and time (botocore before-call events; moto in-process, emulator patches)"
    )
    print(f"  doomed domain `{DOMAIN}`: {len(d.items):,} items, {len(d.objects)} S3 objects")
    seeded = ", ".join(f"{n:,} {kind}" for kind, n in d.kinds.items())
    print(f"    seeded: {seeded}; {d.routes} items written by the provisioning and suspension routes")
    print(
        f"  other domain `{OTHER}`: A = {a.others:,} items ({a.other_objects} S3 objects),"
        f" B = {b.others:,} items ({b.other_objects:,} S3 objects)"
    )
    print(
        f"  counted: DELETE /platform/domains/{DOMAIN} (after its suspension, not counted), then each job"
        " message received, run by on_job, deleted"
    )


def _print_calls(a: Result, b: Result) -> None:
    operations = sorted(set(a.by_operation) | set(b.by_operation) | set(a.floor_share))
    print(f"\n  {'operation':<30} {'A':>5} {'B':>5}  {'floor':>5}  {'A - floor':>9}")
    for op in operations:
        share = a.floor_share.get(op)
        shown = "-" if share is None else str(share)
        over = a.by_operation[op] - (share or 0)
        print(f"  {op:<30} {a.by_operation[op]:>5} {b.by_operation[op]:>5}  {shown:>5}  {over:>+9}")
    print(f"  {'total':<30} {len(a.calls):>5} {len(b.calls):>5}  {a.floor:>5}  {len(a.calls) - a.floor:>+9}")


def _print_floor(a: Result, b: Result) -> None:
    from chalicelib.repositories import keys
    from chalicelib.services.domain_purge import object_prefixes

    d, share = a.doomed, a.floor_share
    pages = d.floor_partitions()
    print("  floor:")
    print(f"    BatchWriteItem  ceil({len(d.items):,} items / {BATCH}) = {share['dynamodb.BatchWriteItem']}")
    print(f"    DeleteObjects   ceil({len(d.objects)} objects / {S3_BATCH}) = {share['s3.DeleteObjects']}")
    prefixes = ", ".join(object_prefixes(DOMAIN))
    print(f"    ListObjectsV2   one a prefix ({prefixes}) = {share['s3.ListObjectsV2']}")
    print(
        f"    Query           {len(d.registered)} registered partitions"
        f" + {len(d.conversations)} conversations"
        f" + {len(keys.fixed_partitions(DOMAIN))} fixed + 1 jobs index = {len(pages)} partitions:"
        f" {share['dynamodb.Query']} pages of up to {PAGE} items"
    )
    floor_pages: Counter[str] = Counter()
    partitions: Counter[str] = Counter()
    for name, n in pages:
        floor_pages[_kind(name)] += n
        partitions[_kind(name)] += 1
    qa, qb = _query_kinds(a), _query_kinds(b)
    print(f"\n  {'Queries by partition':<28} {'partitions':>10} {'floor':>6} {'A':>5} {'B':>5}")
    for kind in [k for k, _ in PARTITION_KINDS] + ["fixed"]:
        if floor_pages[kind] or qa[kind] or qb[kind]:
            print(f"    {kind:<26} {partitions[kind]:>10} {floor_pages[kind]:>6} {qa[kind]:>5} {qb[kind]:>5}")


def _targets(a: Result, b: Result) -> list[str]:
    from bench.harness import floor_targets

    print()
    return floor_targets((a, b), "the other domain's size")


def _print_jobs(a: Result, b: Result) -> None:
    print(f"  job messages delivered: A {a.deliveries}, B {b.deliveries}")
    for r in (a, b):
        progress, result = r.job.get("progress", {}), r.job.get("result", {})
        entries = sum(1 for i in r.doomed.items.values() if i["type"]["S"] == "partitions")
        print(
            f"  job {r.label}: {r.job.get('status')},"
            f" progress {progress.get('done')}/{progress.get('total')},"
            f" deleted_items {result.get('deleted_items')}, deleted_objects {result.get('deleted_objects')}"
            f"  (seeded: {len(r.doomed.items):,} items, {entries} of them registry entries;"
            f" {len(r.doomed.objects)} objects)"
        )


def _print_queries(a: Result, b: Result) -> None:
    print(f"\n  Queries made (scenario A, in order: the first {QUERY_LINES} of {len(a.queries)})")
    for line in a.queries[:QUERY_LINES]:
        print(f"    {line}")
    if a.queries == b.queries:
        print(f"  scenario B made the same {len(b.queries)} Queries, in the same order")
        return
    if sorted(a.queries) == sorted(b.queries):
        print(
            f"  scenario B made the same {len(b.queries)} Queries, in another order (the provisioning's"
            " ids of one millisecond sort at random)"
        )
        return
    print(f"  scenario B made other Queries ({len(b.queries)}), the first that differ:")
    for x, y in [(x, y) for x, y in zip(a.queries, b.queries, strict=False) if x != y][:5]:
        print(f"    A: {x}\n    B: {y}")


def _report(a: Result, b: Result) -> list[str]:
    from bench.harness import Timed, print_times

    _print_header(a, b)
    _print_calls(a, b)
    _print_floor(a, b)
    failures = _targets(a, b)
    _print_jobs(a, b)
    _print_queries(a, b)
    print_times(Timed(a.seconds, a.op_seconds), Timed(b.seconds, b.op_seconds))
    for r in (a, b):
        print(
            f"  setup {r.label} (not counted): {DOMAIN} {r.setup[DOMAIN]:.1f} s,"
            f" {OTHER} {r.setup[OTHER]:.1f} s"
        )
    for r in (a, b):
        failures += [f"{r.label}: {p}" for p in r.problems]
    return failures


def main() -> int:
    sys.path.insert(0, str(ROOT))  # bench.harness importable; isolate_path then takes bench/ off
    from bench.harness import CallLog, conclude, configure_env, hooked_clients, isolate_path

    isolate_path()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--others",
        nargs=2,
        type=int,
        default=[n for _, n in SCENARIOS],
        help="items of the other domain in A, B",
    )
    others = parser.parse_args().others
    configure_env(PLATFORM_KEY, ("OC_DELETE_STEP_ITEMS",))
    from localdev.emulator import patch_dynamodb_checks, patch_moto

    patch_moto()
    patch_dynamodb_checks()
    log = CallLog()
    started = time.perf_counter()
    with hooked_clients(log):  # clients created later are hooked too
        a, b = (run_scenario(label, n, log) for (label, _), n in zip(SCENARIOS, others, strict=True))
    failures = _report(a, b)
    print(f"  whole run: {time.perf_counter() - started:.0f} s")
    return conclude(failures)


if __name__ == "__main__":
    sys.exit(main())
