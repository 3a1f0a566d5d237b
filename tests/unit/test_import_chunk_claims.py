"""One chunk of an import whose claims are partly refused, without AWS: the chunk runs against
an in-memory table that evaluates the two conditions a chunk's claims use (a claim's
`attribute_not_exists`, the seats' `seats_used <= :most AND seats_total = :total`) as DynamoDB
does: all or nothing, naming the failed operations. Another writer takes some of the chunk's
emails (and seats) between the chunk's read and its claims."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from chalicelib.core.clock import FixedClock
from chalicelib.domain.import_record import ImportRecord
from chalicelib.domain.imports import Outcome
from chalicelib.domain.models import Billing, Domain, DomainStatus, Plan, Role, User, UserStatus
from chalicelib.domain.user_csv import Field, UserRecord
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Item, Table, from_raw
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.imports import ImportRepository
from chalicelib.repositories.invites import InviteRepository
from chalicelib.repositories.sessions import SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.import_invitations import ImportInvitations
from chalicelib.services.imports import ChunkProcessor
from chalicelib.services.jobs import JobService
from chalicelib.services.memberships import DefaultGroupJoiner

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
Key = tuple[str, str]


class MemoryTable(Table):
    """The calls a chunk of new users makes, on a dict. `before_transact` runs once, before the
    first transaction: the other writer's moment."""

    def __init__(self) -> None:
        super().__init__(client_factory=lambda: None, name_factory=lambda: "table")
        self.items: dict[Key, Item] = {}
        self.before_transact: Callable[[], object] | None = None
        self.transactions = 0

    def get(self, pk: str, sk: str) -> Item | None:
        return self.items.get((pk, sk))

    def batch_get(self, keys: Sequence[Key]) -> dict[Key, Item]:
        return {k: self.items[k] for k in keys if k in self.items}

    def batch_write_parallel(self, puts: Sequence[Mapping[str, Any]], workers: int = 4) -> int:
        for item in puts:
            self.items[(item["pk"], item["sk"])] = {k: v for k, v in item.items() if v is not None}
        return len(puts)

    def transact(self, operations: Sequence[dict[str, Any]]) -> None:
        if self.before_transact is not None:
            meanwhile, self.before_transact = self.before_transact, None
            meanwhile()
        self.transactions += 1
        failed = [i for i, op in enumerate(operations) if not self._holds(op)]
        if failed:
            raise ConditionFailed(failed)
        for op in operations:
            self._apply(op)

    def _holds(self, op: dict[str, Any]) -> bool:
        if "Put" in op:
            item = from_raw(op["Put"]["Item"])
            assert op["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
            return (item["pk"], item["sk"]) not in self.items
        update = op["Update"]
        assert update["ConditionExpression"] == "seats_used <= :most AND seats_total = :total"
        domain = self.items[(update["Key"]["pk"]["S"], update["Key"]["sk"]["S"])]
        values = {k: int(v["N"]) for k, v in update["ExpressionAttributeValues"].items()}
        return bool(domain["seats_used"] <= values[":most"] and domain["seats_total"] == values[":total"])

    def _apply(self, op: dict[str, Any]) -> None:
        if "Put" in op:
            item = from_raw(op["Put"]["Item"])
            self.items[(item["pk"], item["sk"])] = item
            return
        update = op["Update"]
        domain = self.items[(update["Key"]["pk"]["S"], update["Key"]["sk"]["S"])]
        domain["seats_used"] += int(update["ExpressionAttributeValues"][":seats"]["N"])


class NoJobs(JobService):
    def __init__(self) -> None:  # the chunk starts no job
        pass

    def register(self, kind: str, runner: Any) -> None:
        pass


def _chunk(table: MemoryTable) -> ChunkProcessor:
    clock = FixedClock(NOW)
    users, index = UserRepository(table), UserIndexRepository(table)
    imports, invites = ImportRepository(table), InviteRepository(table)
    inviter = ImportInvitations(table, imports, users, invites, NoJobs(), sender=None, clock=clock)  # type: ignore[arg-type]
    joiner = DefaultGroupJoiner(table, GroupRepository(table))
    return ChunkProcessor(
        table, imports, users, index, DomainRepository(table), invites, SessionRepository(table),
        joiner, inviter, clock,
    )  # fmt: skip


def _domain(table: MemoryTable, seats_total: int) -> Domain:
    domain = Domain(
        "acme", Plan.BUSINESS, Billing.MONTHLY, seats_total, 1, False, None, DomainStatus.ACTIVE, NOW
    )
    item = DomainRepository.to_item(domain)
    table.items[(item["pk"], item["sk"])] = item
    return domain


def _record(mode: str) -> ImportRecord:
    return ImportRecord(
        id="01JIMPORT0000000000000000", domain="acme", status="processing", mode=mode, send_invites=False,
        dry_run=False, source="drop", s3_key="imports/acme/users.csv", requested_by=None,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def _someone_adds(table: MemoryTable, email: str) -> str:
    """A user made outside the import (as POST /admin/users does: EMAIL item and profile)."""
    user = User(
        id=f"HAND{email[:4].upper()}", domain="acme", email=email, first_name="Hand", last_name="Made",
        role=Role.MEMBER, status=UserStatus.INVITED, created_at=NOW,
    )  # fmt: skip
    for item in UserRepository(table).create_items(user, "hash-of-their-password"):
        table.items[(item["pk"], item["sk"])] = item
    table.items[DomainRepository.key("acme")]["seats_used"] += 1
    return user.id


ROWS = [
    UserRecord(line=n + 2, email=f"u{n}@acme.example", values={Field.FIRST_NAME: "File"}) for n in range(6)
]


def _owner(table: MemoryTable, email: str) -> Item:
    return table.items[(f"D#acme#E#{email}", "EMAIL")]


def test_refused_claims_are_planned_again_against_the_users_made_meanwhile() -> None:
    table = MemoryTable()
    domain = _domain(table, seats_total=50)
    hand_made: dict[str, str] = {}
    table.before_transact = lambda: hand_made.update(
        {e: _someone_adds(table, e) for e in ("u1@acme.example", "u4@acme.example")}
    )
    rows = _chunk(table).process(_record("skip"), list(ROWS), domain, [])

    skipped = {"u1@acme.example", "u4@acme.example"}  # the mode is skip
    assert [(r.email, r.outcome) for r in rows] == [
        (r.email, Outcome.SKIPPED if r.email in skipped else Outcome.CREATED) for r in ROWS
    ]
    assert table.transactions == 3  # the claims, again without the two refused, the profiles
    for email, user_id in hand_made.items():
        owner = _owner(table, email)
        assert (owner["user_id"], owner["password_hash"]) == (user_id, "hash-of-their-password")
        assert "import_id" not in owner
    created = [r.email for r in rows if r.outcome is Outcome.CREATED]
    assert all(_owner(table, e)["import_line"] for e in created)
    profiles = [i for (pk, sk), i in table.items.items() if sk == "PROFILE"]
    assert sorted(p["email"] for p in profiles) == [f"u{n}@acme.example" for n in range(6)]
    assert table.items[DomainRepository.key("acme")]["seats_used"] == 1 + 6  # the admin, 4 + 2


def test_seats_taken_meanwhile_fail_the_last_rows_in_file_order() -> None:
    table = MemoryTable()
    domain = _domain(table, seats_total=6)  # 5 free when the chunk reads: rows 2..6 may create
    table.before_transact = lambda: _someone_adds(table, "someone@acme.example")
    rows = _chunk(table).process(_record("skip"), list(ROWS), domain, [])

    outcomes = [(r.line, r.outcome, r.error[0] if r.error else None) for r in rows]
    assert outcomes == [
        (2, Outcome.CREATED, None), (3, Outcome.CREATED, None), (4, Outcome.CREATED, None),
        (5, Outcome.CREATED, None), (6, Outcome.FAILED, "seat_limit_reached"),
        (7, Outcome.FAILED, "seat_limit_reached"),
    ]  # fmt: skip
    assert (
        table.items[DomainRepository.key("acme")]["seats_used"]
        == 6
        == table.items[DomainRepository.key("acme")]["seats_total"]
    )
