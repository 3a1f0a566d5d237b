"""AWS calls and time of the permanent deletion of a user, in a small and in a large domain.

Run: `.venv/bin/python bench/delete_bench.py`. Needs no emulator: moto runs in-process.

The user to delete (the victim) posted 1 000 messages in a group another user created, 100 of
them carrying one of the victim's 100 files (each with its S3 object). The other users hold
1 000 messages in scenario A and 50 000 in scenario B, in the same group (+ 10 files of theirs).
Seeding is direct writes, not counted. Counting starts at `DELETE /admin/users/{id}` (chalice
test Client, as the domain's admin) and ends when the jobs queue is drained into the `on_job`
handler: every AWS call of the request and of every job step, SQS included, with the
ReceiveMessage/DeleteMessage of each delivered job message (what Lambda's event source makes; the
drain's own GetQueueUrl and its last, empty poll are not counted).

Targets: the two call counts are equal (the cost does not depend on the domain's size) and within
1.25x of the batching floor: ceil(items deleted / 25) + ceil(S3 objects / 1000) + the index
reads, one Query page (up to 1 000 items) per index of the victim's own items. Times are printed
as a ratio against scenario A of the same run, split by AWS operation: they are emulator times,
not Lambda's, and moto's per-call cost grows with the table (no target). Exit status 1 when a
target is missed or the deletion removed the wrong items.
"""

from __future__ import annotations

import math
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
DOMAIN = "bench"
EMAIL = "admin@bench.local"
PASSWORD = "a long bench password"  # noqa: S105 - the bench domain's admin, in moto only

VICTIM_MESSAGES = 1000
VICTIM_FILES = 100  # each carried by one of the victim's messages
OTHER_FILES = 10  # carried by other users' messages: must survive
SCENARIOS = (("A", 1000), ("B", 50_000))  # other users' messages
PAGE = 1000  # items a Query page of the deletion reads (user_deletion.PAGE)
BATCH = 25  # deletes a BatchWriteItem
S3_BATCH = 1000  # keys a DeleteObjects
# the indexes of the victim's own items the deletion must read, and how many items each holds
INDEX_SIZES = {
    "tokens (request)": 0,
    "private chats": 0,
    "created groups": 0,
    "messages": VICTIM_MESSAGES,
    "files": VICTIM_FILES,
    "memberships": 1,
    "user partition": 1,
}
# what the job deletes: messages, attachments, files, the membership, the profile
EXPECTED_DELETED = VICTIM_MESSAGES + 2 * VICTIM_FILES + 1 + 1

KeyPair = tuple[str, str]


@dataclass
class World:
    admin_token: str
    victim_id: str
    alias: dict[str, str]
    doomed: list[KeyPair]  # every item of the victim's: must be gone
    kept: list[KeyPair]  # every item of the others' in the group and their files: must stay
    victim_objects: list[str]
    other_objects: list[str]


@dataclass
class Result:
    label: str
    others: int
    calls: list[str]
    queries: list[str]
    op_seconds: dict[str, float]
    seconds: float
    setup_seconds: float
    deliveries: int
    deleted_items: int
    problems: list[str] = field(default_factory=list)

    @property
    def by_operation(self) -> Counter[str]:
        return Counter(self.calls)

    @property
    def floor_share(self) -> dict[str, int]:
        return {
            "dynamodb.BatchWriteItem": math.ceil(self.deleted_items / BATCH),
            "dynamodb.Query": sum(max(1, math.ceil(n / PAGE)) for n in INDEX_SIZES.values()),
            "s3.DeleteObjects": math.ceil(VICTIM_FILES / S3_BATCH),
        }

    @property
    def floor(self) -> int:
        return sum(self.floor_share.values())


def _expect(
    http: Any, status: int, method: str, path: str, token: str | None = None, body: Any = None
) -> Any:
    from bench.harness import expect

    return expect(http, PLATFORM_KEY, status, method, path, token, body)


def _seed(http: Any, others_count: int) -> World:
    """The domain, its users, the group, the messages and files: direct writes, not counted."""
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from chalicelib.core.ids import new_id
    from chalicelib.domain.models import Conversation, File, Group, GroupRole, Message, Role, User, UserStatus
    from chalicelib.repositories import keys
    from chalicelib.repositories.domains import DomainRepository
    from chalicelib.repositories.dynamo import Item, Table
    from chalicelib.repositories.files import FileRepository, object_key
    from chalicelib.repositories.groups import GroupRepository
    from chalicelib.repositories.messages import MessageRepository, container
    from chalicelib.repositories.users import UserIndexRepository, UserRepository

    admin = {"email": EMAIL, "first_name": "B", "last_name": "A", "password": PASSWORD}
    domain = {"domain": DOMAIN, "plan": "business", "billing": "monthly", "hipaa": False}
    _expect(http, 201, "POST", "/platform/domains", body={**domain, "admin": admin})
    login = {"domain": DOMAIN, "email": EMAIL, "password": PASSWORD, "client": "web"}
    token = _expect(http, 200, "POST", "/auth/login", body=login)["token"]

    table = Table()
    now = datetime.now(UTC)
    victim, olga, tom = (
        User(
            new_id(),
            DOMAIN,
            f"{name}@bench.local",
            name.title(),
            "Bench",
            Role.MEMBER,
            UserStatus.ACTIVE,
            now,
        )
        for name in ("victim", "olga", "tom")
    )
    users, index = UserRepository(table), UserIndexRepository(table)
    for user in (victim, olga, tom):
        ops = users.create_ops(user, None) + index.put_ops(user)
        table.transact([*ops, DomainRepository(table).counters_op(DOMAIN, seats=1)])
    group = Group(new_id(), DOMAIN, "Bench group", "", olga.id, False, now)
    members = [(olga.id, GroupRole.ADMIN), (victim.id, GroupRole.MEMBER), (tom.id, GroupRole.MEMBER)]
    table.transact(GroupRepository(table).create_ops(group, members, now))

    doomed: list[KeyPair] = [
        users.profile_key(DOMAIN, victim.id),
        users.email_key(DOMAIN, victim.email),
        index.roster_key(victim),
        *index.search_keys(victim),
        (keys.group_pk(DOMAIN, group.id), keys.member_sk(victim.id)),
    ]
    kept: list[KeyPair] = [
        (keys.group_pk(DOMAIN, group.id), keys.META),
        *[(keys.group_pk(DOMAIN, group.id), keys.member_sk(u.id)) for u in (olga, tom)],
        *[users.profile_key(DOMAIN, u.id) for u in (olga, tom)],
    ]
    conversation = Conversation.of_group(DOMAIN, group.id)
    items: list[Item] = []
    s3, bucket = aws.s3(), get_settings().bucket

    def add_file(owner: User, into: list[KeyPair]) -> tuple[str, str]:
        file_id = new_id()
        key = object_key(DOMAIN, file_id, f"{file_id}.txt")
        s3.put_object(Bucket=bucket, Key=key, Body=b"bench")
        items.append(
            FileRepository.to_item(File(file_id, DOMAIN, owner.id, "f.txt", "text/plain", 5, key, now))
        )
        into.append((items[-1]["pk"], items[-1]["sk"]))
        return file_id, key

    def add_message(author: User, file_id: str | None, into: list[KeyPair]) -> None:
        message = Message(new_id(), conversation, author.id, "bench", (file_id,) if file_id else (), now)
        items.append(MessageRepository.to_item(message))
        into.append((items[-1]["pk"], items[-1]["sk"]))
        if file_id:  # the attachment item, as FileRepository.attachment_ops writes it
            attachment = {
                "pk": keys.file_pk(DOMAIN, file_id),
                "sk": keys.attachment_sk(container(conversation), message.id),
                "type": "attachment",
                "file_id": file_id,
                "message_id": message.id,
                "kind": conversation.kind.value,
                "group_id": group.id,
                "created_at": items[-1]["created_at"],
            }
            items.append(attachment)
            into.append((attachment["pk"], attachment["sk"]))

    victim_files = [add_file(victim, doomed) for _ in range(VICTIM_FILES)]
    for n in range(VICTIM_MESSAGES):
        add_message(victim, victim_files[n][0] if n < VICTIM_FILES else None, doomed)
    other_files = [add_file(olga if n % 2 else tom, kept) for n in range(OTHER_FILES)]
    for n in range(others_count):
        add_message(olga if n % 2 else tom, other_files[n][0] if n < OTHER_FILES else None, kept)
    table.batch_write(puts=items)
    return World(
        admin_token=token,
        victim_id=victim.id,
        alias={victim.id: "<victim>", olga.id: "<olga>", tom.id: "<tom>", group.id: "<group>"},
        doomed=doomed,
        kept=kept,
        victim_objects=[k for _, k in victim_files],
        other_objects=[k for _, k in other_files],
    )


def _verify(world: World, job: dict[str, Any]) -> list[str]:
    """Every seeded item of the victim's is gone and every other one is there (BatchGetItem by
    key: moto's Query costs a sort of the whole table), nothing of the victim's is left in its
    indexes, and the S3 objects are exactly the others'."""
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from chalicelib.repositories import keys
    from chalicelib.repositories.dynamo import Table

    table = Table()
    d, v = DOMAIN, world.victim_id
    problems: list[str] = []
    if job.get("status") != "succeeded":
        problems.append(f"the job ended {job.get('status')!r}")
    if left := len(table.batch_get(world.doomed)):
        problems.append(f"{left} of the victim's {len(world.doomed)} seeded items are left")
    if missing := len(world.kept) - len(table.batch_get(world.kept)):
        problems.append(f"{missing} of the other users' {len(world.kept)} items were deleted")
    indexes = {
        "messages index": table.count(keys.user_messages_gsi1pk(d, v), index="gsi1"),
        "files index": table.count(keys.user_files_gsi1pk(d, v), index="gsi1"),
        "memberships index": table.count(keys.user_memberships_gsi1pk(d, v), index="gsi1"),
        "partition": table.count(keys.user_pk(d, v)),
    }
    problems += [f"{n} items are left in the victim's {name}" for name, n in indexes.items() if n]
    listed = aws.s3().list_objects_v2(Bucket=get_settings().bucket, Prefix=f"files/{d}/")
    remaining = {o["Key"] for o in listed.get("Contents", [])}
    if left := len(set(world.victim_objects) & remaining):
        problems.append(f"{left} of the victim's S3 objects are left")
    if missing := len(set(world.other_objects) - remaining):
        problems.append(f"{missing} S3 objects of other users were deleted")
    return problems


def run_scenario(label: str, others_count: int, log: CallLog) -> Result:
    from bench.harness import drain, moto_app

    with moto_app() as client:
        started = time.perf_counter()
        world = _seed(client.http, others_count)
        setup_seconds = time.perf_counter() - started

        log.aliases = {**world.alias, f"D#{DOMAIN}#": "D#<d>#"}
        log.clear()
        started = time.perf_counter()
        path = f"/admin/users/{world.victim_id}"
        answer = _expect(client.http, 202, "DELETE", path, world.admin_token)
        deliveries = drain(client, log)
        seconds = time.perf_counter() - started
        calls, queries, op_seconds = list(log.calls), list(log.queries), dict(log.seconds)

        job = _expect(client.http, 200, "GET", f"/admin/jobs/{answer['job_id']}", world.admin_token)
        problems = _verify(world, job)
    deleted = int(job.get("result", {}).get("deleted_items", 0))
    if deleted != EXPECTED_DELETED:
        problems.append(f"the job reports {deleted} deleted items, the bench seeded {EXPECTED_DELETED}")
    return Result(
        label, others_count, calls, queries, op_seconds, seconds, setup_seconds, deliveries, deleted, problems
    )


def _report(a: Result, b: Result) -> list[str]:
    from bench.harness import Timed, floor_targets, print_times

    failures: list[str] = []
    print("User deletion: AWS calls and time (botocore before-call events, moto in-process)")
    print(
        f"  victim: {VICTIM_MESSAGES} messages in another user's group, {VICTIM_FILES} of them carrying "
        f"one of the victim's {VICTIM_FILES} files (+ S3 objects), 1 membership"
    )
    print(
        f"  other users' messages in the same group: A = {a.others:,}, B = {b.others:,}"
        f" (+ {OTHER_FILES} files)"
    )
    print("  counted: DELETE /admin/users/{id}, then each job message received, run by on_job, deleted")
    print()
    operations = sorted(set(a.by_operation) | set(b.by_operation) | set(a.floor_share))
    print(f"  {'operation':<30} {'A':>5} {'B':>5}  {'floor':>5}")
    for op in operations:
        share = str(a.floor_share[op]) if op in a.floor_share else "-"
        print(f"  {op:<30} {a.by_operation[op]:>5} {b.by_operation[op]:>5}  {share:>5}")
    print(f"  {'total':<30} {len(a.calls):>5} {len(b.calls):>5}  {a.floor:>5}")
    pages = " + ".join(str(max(1, math.ceil(n / PAGE))) for n in INDEX_SIZES.values())
    print(
        f"  floor = ceil({a.deleted_items} items deleted / {BATCH})"
        f" + ceil({VICTIM_FILES} objects / {S3_BATCH})"
        f" + index pages ({pages}: {', '.join(INDEX_SIZES)}) = {a.floor}"
    )

    def lenient(r: Result) -> str:
        queries = r.by_operation["dynamodb.Query"]
        ratio = len(r.calls) / (r.floor - r.floor_share["dynamodb.Query"] + queries)
        return f"   [with every Query made counted in the floor: {ratio:.2f}]"

    failures += floor_targets((a, b), "the domain's size", lenient)
    print(f"  job messages delivered: A {a.deliveries}, B {b.deliveries}")
    print(f"  job result deleted_items: A {a.deleted_items}, B {b.deleted_items} (seeded {EXPECTED_DELETED})")

    print("\n  Queries made (scenario A, in order)")
    for line in a.queries:
        print(f"    {line}")
    if a.queries != b.queries:
        print("  scenario B made other Queries:")
        for line in b.queries:
            print(f"    {line}")

    print_times(Timed(a.seconds, a.op_seconds), Timed(b.seconds, b.op_seconds))
    print(f"  setup (seeding, not counted): A {a.setup_seconds:.1f} s, B {b.setup_seconds:.1f} s")

    for r in (a, b):
        failures += [f"{r.label}: {p}" for p in r.problems]
    return failures


def main() -> int:
    sys.path.insert(0, str(ROOT))  # bench.harness importable; isolate_path then takes bench/ off
    from bench.harness import CallLog, conclude, configure_env, hooked_clients, isolate_path

    isolate_path()
    configure_env(PLATFORM_KEY, ("OC_DELETE_STEP_ITEMS",))
    log = CallLog()
    with hooked_clients(log):  # clients created later are hooked too
        a, b = (run_scenario(label, others, log) for label, others in SCENARIOS)
    return conclude(_report(a, b))


if __name__ == "__main__":
    sys.exit(main())
