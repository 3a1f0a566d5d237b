"""One chunk of an import's rows (API.md §7): plan each row against the users that exist,
claim the new users' emails, write the new users, change the existing ones.

The order of writes, and why:
1. **Claims.** A new user's EMAIL item is its claim on the email: a Put on the condition
   `attribute_not_exists`, in TransactWriteItems of up to 99 claims and the one Update that
   takes their seats (so seats used moves by exactly the claims that landed). A claim is refused
   when the email found an owner after the chunk read it: `POST /admin/users`, another import,
   another delivery of this chunk. Its row is planned again against that owner (skip or update,
   as the import's mode says); nothing of the import is ever written over a user made meanwhile.
2. **The new users' other items** (index, default groups, the import's NEW# item, invitations)
   in BatchWriteItem calls, keyed by the user, whose id derives from the import and the line.
3. **Their profiles, last**, in TransactWriteItems of 100 Puts, each on the condition that it is
   not there (a delivery beside this one may have written it, and its user accepted the
   invitation since). A claim of this import's row whose profile is missing is a row a crash
   (or a delivery running beside this one) left half-written: its items are written again,
   under the same keys. A row whose profile exists is done and counted as it was.
4. With `send_invites`, the invitations, once the users they link to exist.
5. Every other change (update, activate, deactivate) in a transaction of its own with its
   row's marker, conditioned on the user as read.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.errors import AppError, Conflict
from chalicelib.core.log import carried
from chalicelib.domain.import_record import ImportRecord, RowMarker
from chalicelib.domain.imports import ImportMode, Outcome, RowPlan, plan_row, seat_error, seat_refused
from chalicelib.domain.models import Domain, Group, Role, User, UserStatus
from chalicelib.domain.user_csv import RowError, UserRecord
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import TRANSACTION_LIMIT, ConditionFailed, Table
from chalicelib.repositories.imports import EmailOwner, ImportRepository
from chalicelib.repositories.invites import InviteRepository
from chalicelib.repositories.sessions import SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.import_invitations import ImportInvitations, Invitations
from chalicelib.services.imports.outcome import Row
from chalicelib.services.memberships import DefaultGroupJoiner
from chalicelib.services.transaction import Transaction
from chalicelib.services.users import last_admin, seat_limit_reached

PROFILE_CALLS_IN_FLIGHT = 4
CLAIMS_A_CALL = TRANSACTION_LIMIT - 1  # and the Update of the seats they take
CLAIM_ATTEMPTS = 8  # transactions of one batch of claims before the delivery gives up (SQS retries)
_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.2, 1.6, 2.0)
# Reads of an email claimed by another import whose user is not written yet (a chunk writes its
# users within seconds of its claims): about 6 s in all before the row fails.
_OWNER_WAITS = (0.2, 0.4, 0.8, 1.6, 3.2)


@dataclass
class _New:
    """A row that creates (or finishes creating) its user."""

    row: Row
    record: UserRecord
    user: User


@dataclass
class _Plan:
    rows: list[Row] = field(default_factory=list)
    creations: list[_New] = field(default_factory=list)  # to claim
    unfinished: list[_New] = field(default_factory=list)  # claimed by this row; items to write
    done_before: list[User] = field(default_factory=list)  # created by this row before: invited again
    changes: list[tuple[Row, RowPlan]] = field(default_factory=list)
    waiting: list[_New] = field(default_factory=list)  # users another import is still writing


@dataclass(frozen=True)
class _Read:
    owners: dict[str, EmailOwner]
    markers: dict[str, RowMarker]
    users: dict[str, User]


class ChunkProcessor:
    def __init__(
        self,
        table: Table,
        imports: ImportRepository,
        users: UserRepository,
        index: UserIndexRepository,
        domains: DomainRepository,
        invites: InviteRepository,
        sessions: SessionRepository,
        joiner: DefaultGroupJoiner,
        inviter: ImportInvitations,
        clock: Clock,
    ) -> None:
        self._table = table
        self._imports = imports
        self._users = users
        self._index = index
        self._domains = domains
        self._invites = invites
        self._sessions = sessions
        self._joiner = joiner
        self._inviter = inviter
        self._clock = clock

    def process(
        self,
        record: ImportRecord,
        outcomes: list[UserRecord | RowError],
        domain: Domain,
        defaults: list[Group],
    ) -> list[Row]:
        """Plans every row of the chunk, then (unless a dry run) writes; each row's outcome."""
        read = self._read(record, sorted({o.email for o in outcomes if o.email}))
        plan = self._plan(record, outcomes, read, domain)
        if record.dry_run:
            self._plan_again(record, plan.waiting, plan)  # reads only: a dry run writes nothing
            return plan.rows
        claimed, refused = self._claim(record, plan.creations, domain)
        # The claimed users are written before the refused rows are looked at again: those may
        # wait for the users of another import, which may be waiting for these.
        self._write_new_users(record, claimed + plan.unfinished, plan.done_before, defaults)
        theirs = self._plan_again(record, refused + plan.waiting, plan)
        if theirs:
            self._write_new_users(record, theirs, [], defaults)
        for row, change in plan.changes:
            self._change_user(record, row, change, defaults)
        return plan.rows

    # --- reading and planning ------------------------------------------------------------------

    def _read(self, record: ImportRecord, emails: list[str]) -> _Read:
        owners, markers = self._imports.read_rows(record.domain, record.id, emails)
        users = self._users.get_many(record.domain, [owner.user_id for owner in owners.values()])
        return _Read(owners, markers, {u.id: u for u in users})

    def _plan(
        self, record: ImportRecord, outcomes: list[UserRecord | RowError], read: _Read, domain: Domain
    ) -> _Plan:
        plan = _Plan()
        seats_free = domain.seats_total - domain.seats_used
        seen: dict[str, int] = {}
        for outcome in outcomes:
            if isinstance(outcome, RowError):
                plan.rows.append(_bad_row(outcome, read.markers, seen))
                continue
            known = _seen_before(outcome, read.markers, seen)
            if known is not None:
                plan.rows.append(known)
                if known.claims_email and known.outcome is Outcome.CREATED:
                    self._created_before(record, known, outcome, read, plan)
                continue
            seen[outcome.email] = outcome.line
            if self._being_written(outcome.email, read):
                plan.rows.append(
                    Row(outcome.line, outcome.email, Outcome.FAILED, None, True, outcome.given_email)
                )
                plan.waiting.append(_New(plan.rows[-1], outcome, self._as_new(record, outcome)))
                continue
            row_plan = self._plan_row(record, outcome, read)
            if row_plan.takes_seat:
                if seats_free <= 0:
                    row_plan = seat_refused(row_plan, domain.seats_total - seats_free, domain.seats_total)
                else:
                    seats_free -= 1
            given, reason = outcome.given_email, row_plan.reason
            plan.rows.append(
                Row(outcome.line, outcome.email, row_plan.outcome, row_plan.error, True, given, reason)
            )
            self._sort(plan, record, plan.rows[-1], outcome, row_plan)
        return plan

    @staticmethod
    def _being_written(email: str, read: _Read) -> bool:
        """Claimed by an import whose user is not written yet (its profile comes last)."""
        owner = read.owners.get(email)
        return owner is not None and owner.import_id is not None and owner.user_id not in read.users

    def _plan_row(self, record: ImportRecord, outcome: UserRecord, read: _Read) -> RowPlan:
        owner = read.owners.get(outcome.email)
        user = read.users.get(owner.user_id) if owner else None
        if owner and user is None:  # an EMAIL item without its profile: a deletion under way
            return RowPlan(Outcome.FAILED, None, None, ("user_being_deleted", "This user is being deleted."))
        return plan_row(
            outcome,
            user,
            bool(owner and owner.has_password),
            ImportMode(record.mode),
            _row_user_id(record, outcome.line),
            record.domain,
            record.created_at,
            record.requested_by,
        )

    @staticmethod
    def _sort(plan: _Plan, record: ImportRecord, row: Row, outcome: UserRecord, row_plan: RowPlan) -> None:
        if record.dry_run or row_plan.outcome in (Outcome.SKIPPED, Outcome.FAILED):
            return
        if row_plan.outcome is Outcome.CREATED:
            assert row_plan.after is not None
            plan.creations.append(_New(row, outcome, row_plan.after))
        else:
            plan.changes.append((row, row_plan))

    def _created_before(
        self, record: ImportRecord, row: Row, outcome: UserRecord, read: _Read, plan: _Plan
    ) -> None:
        """A row whose user this import created: done if its profile is there (invited again
        with `send_invites`, so a crash leaves nobody without a working link), else unfinished."""
        user = read.users.get(_row_user_id(record, row.line))
        if user is not None:
            plan.done_before.append(user)
            return
        plan.unfinished.append(_New(row, outcome, self._as_new(record, outcome)))

    @staticmethod
    def _as_new(record: ImportRecord, outcome: UserRecord) -> User:
        """The user the row creates (or created), the same each time it is planned."""
        again = plan_row(
            outcome, None, False, ImportMode(record.mode), _row_user_id(record, outcome.line),
            record.domain, record.created_at, record.requested_by,
        )  # fmt: skip
        assert again.after is not None
        return again.after

    def _plan_again(self, record: ImportRecord, refused: list[_New], plan: _Plan) -> list[_New]:
        """Rows whose claim was refused, planned against the user who holds the email now (a
        user another import is still writing, its profile not there yet, is read again); the
        rows that another delivery of this chunk claimed, whose users this one writes too."""
        theirs: list[_New] = []
        for attempt in range(len(_OWNER_WAITS) + 1):
            if not refused:
                break
            read = self._read(record, [new.row.email for new in refused])
            waiting = []
            for new in refused:
                owner = read.owners.get(new.row.email)
                if owner is not None and owner.import_id == record.id and owner.line == new.row.line:
                    theirs.append(new)
                elif self._being_written(new.row.email, read):
                    waiting.append(new)
                else:
                    self._replan(record, new, read, plan)
            refused = waiting
            if refused and attempt < len(_OWNER_WAITS):
                time.sleep(_OWNER_WAITS[attempt])
        for new in refused:
            new.row.outcome = Outcome.FAILED
            new.row.error = (
                "user_being_created",
                f"{new.row.email} is being created by another import at this moment; import the row again.",
            )
        return theirs

    def _replan(self, record: ImportRecord, new: _New, read: _Read, plan: _Plan) -> None:
        owner = read.owners.get(new.row.email)
        if owner is not None and owner.import_id == record.id and owner.line is not None:
            first = owner.line  # an earlier row of this file, done by a delivery beside this one
            message = f"{new.row.email} is already on line {first}; the first row wins."
            new.row.outcome, new.row.error = Outcome.FAILED, ("duplicate_email", message)
            return
        row_plan = self._plan_row(record, new.record, read)
        if row_plan.outcome is Outcome.CREATED:  # the owner went away again: leave it to a rerun
            row_plan = RowPlan(
                Outcome.FAILED, None, None, ("concurrent_change", "The user changed at the same moment.")
            )
        new.row.outcome, new.row.error, new.row.reason = row_plan.outcome, row_plan.error, row_plan.reason
        if row_plan.outcome not in (Outcome.SKIPPED, Outcome.FAILED):
            plan.changes.append((new.row, row_plan))

    # --- claims ----------------------------------------------------------------------------------

    def _claim(
        self, record: ImportRecord, creations: list[_New], domain: Domain
    ) -> tuple[list[_New], list[_New]]:
        """Claims the new users' emails with their seats: the rows claimed, and those whose
        claim was refused (a row left without a seat fails where it stands)."""
        claimed: list[_New] = []
        refused: list[_New] = []
        seats_total = domain.seats_total
        for start in range(0, len(creations), CLAIMS_A_CALL):
            batch = creations[start : start + CLAIMS_A_CALL]
            seats_total, won, lost = self._claim_batch(record, batch, seats_total)
            claimed += won
            refused += lost
        return claimed, refused

    def _claim_batch(
        self, record: ImportRecord, batch: list[_New], seats_total: int
    ) -> tuple[int, list[_New], list[_New]]:
        """One transaction of claims and their seats, tried again without the claims that were
        refused and without the rows no seat is left for (those fail: the file's later rows)."""
        refused: list[_New] = []
        for attempt in range(CLAIM_ATTEMPTS):
            if not batch:
                return seats_total, [], refused
            ops = [self._claim_op(record, new) for new in batch]
            ops.append(self._domains.seats_op(record.domain, len(batch), seats_total))
            try:
                self._table.transact(ops)
                return seats_total, batch, refused
            except ConditionFailed as failure:
                lost = {i for i in failure.failed if i < len(batch)}
                refused += [batch[i] for i in sorted(lost)]
                batch = [new for i, new in enumerate(batch) if i not in lost]
                if len(ops) - 1 in failure.failed or not failure.failed:
                    seats_total, batch = self._fit_seats(record, batch)
                if not failure.failed:  # transactions kept colliding on the domain item
                    time.sleep(_BACKOFF[attempt])
        raise Conflict("The domain kept changing while the import claimed its users.", "concurrent_change")

    def _claim_op(self, record: ImportRecord, new: _New) -> dict[str, object]:
        email_item, _ = self._users.create_items(new.user)
        return self._imports.email_claim_op(email_item, record.id, new.row.line)

    def _fit_seats(self, record: ImportRecord, batch: list[_New]) -> tuple[int, list[_New]]:
        """The seats as they are now: the rows beyond them fail, in file order."""
        domain = self._domains.get(record.domain)
        if domain is None:
            raise Conflict("The domain is gone.", "domain_gone")
        free = max(domain.seats_total - domain.seats_used, 0)
        for new in batch[free:]:
            new.row.outcome, new.row.error = Outcome.FAILED, seat_error(domain.seats_used, domain.seats_total)
        return domain.seats_total, batch[:free]

    # --- writes ----------------------------------------------------------------------------------

    def _write_new_users(
        self, record: ImportRecord, news: list[_New], done_before: list[User], defaults: list[Group]
    ) -> None:
        """The claimed users' items in BatchWriteItem calls (25 a call, 4 in flight), their
        profiles last (conditional); then, with `send_invites`, their invitations (and again those of the
        users this chunk had created before a crash: new links, the old die)."""
        now = self._clock.now()
        users = [new.user for new in news]
        items = []
        for new in news:
            items += self._index.items(new.user)
            items += [self._joiner.membership_item(group, new.user, now) for group in defaults]
            line, user = new.row.line, new.user
            items.append(self._imports.new_user_item(record.domain, record.id, line, user.id, user.email))
            items.append(self._users.registry_entry(user))
        invited = [u for u in users + done_before if u.status is UserStatus.INVITED]
        invitations = (
            self._inviter.prepare(record.domain, invited, record.requested_by)
            if record.send_invites
            else Invitations()
        )
        self._imports.put_many(items + invitations.items)
        self._create_profiles(users)
        self._inviter.send(invitations)

    def _create_profiles(self, users: list[User]) -> None:
        """The profiles, each on the condition that it is not there (TransactWriteItems, 100 a
        call, 4 calls in flight: the items are distinct): a delivery beside this one may have
        written one, and its user may have accepted the invitation since; a refused profile is
        left as it is."""
        batches = [
            users[start : start + TRANSACTION_LIMIT] for start in range(0, len(users), TRANSACTION_LIMIT)
        ]
        if len(batches) <= 1:
            for batch in batches:
                self._create_profile_batch(batch)
            return
        with ThreadPoolExecutor(max_workers=min(PROFILE_CALLS_IN_FLIGHT, len(batches))) as pool:
            list(pool.map(carried(self._create_profile_batch), batches))

    def _create_profile_batch(self, users: list[User]) -> None:
        pending = [self._users.create_profile_op(user) for user in users]
        for attempt in range(CLAIM_ATTEMPTS):
            try:
                self._table.transact(pending)
                return
            except ConditionFailed as failure:
                pending = [op for i, op in enumerate(pending) if i not in failure.failed]
                if not pending:
                    return
                if not failure.failed:
                    time.sleep(_BACKOFF[attempt])
        raise Conflict("The new users kept colliding with other writes.", "concurrent_change")

    def _change_user(self, record: ImportRecord, row: Row, plan: RowPlan, defaults: list[Group]) -> None:
        before, after = plan.before, plan.after
        assert before is not None and after is not None
        now = self._clock.now()
        tx = Transaction(self._table)
        tx.add(
            self._users.save_op(after, before),
            on_condition_failed=Conflict("The user changed at the same moment.", "concurrent_change"),
        )
        tx.add(*self._index.replace_ops(before, after))
        seats = {Outcome.ACTIVATED: 1, Outcome.DEACTIVATED: -1}.get(plan.outcome, 0)
        admins = _active_admin(after) - _active_admin(before)
        if seats or admins:
            error = seat_limit_reached() if seats > 0 else last_admin()
            tx.add(
                self._domains.counters_op(record.domain, seats=seats, admins=admins),
                on_condition_failed=error,
            )
        if plan.outcome is Outcome.ACTIVATED:
            tx.add(*self._joiner.join_ops(after, now, defaults=defaults))
        if plan.outcome is Outcome.DEACTIVATED:
            tx.add(self._invites.delete_op(record.domain, before.id))
        marker = RowMarker(record.id, row.line, plan.outcome.value, before.id, reason=plan.reason)
        tx.add(
            self._imports.marker_op(record.domain, row.email, marker, now), on_condition_failed=_AlreadyDone()
        )
        try:
            tx.commit()
        except _AlreadyDone:
            return
        except AppError as error:
            row.outcome, row.error = Outcome.FAILED, (error.code, error.message)
            return
        if plan.outcome is Outcome.DEACTIVATED:
            self._sessions.delete_all_of_user(record.domain, before.id)


class _AlreadyDone(AppError):
    """A row's marker was there: another delivery of this chunk did the row."""

    status = 409
    code = "already_done"

    def __init__(self) -> None:
        super().__init__("This row was imported by another delivery.")


def _bad_row(outcome: RowError, markers: dict[str, RowMarker], seen: dict[str, int]) -> Row:
    """A bad row with a valid email still claims that email (the first row wins), once."""
    earlier = markers.get(outcome.email)
    claims = bool(outcome.email) and outcome.email not in seen
    claims = claims and (earlier is None or earlier.line == outcome.line)
    if claims:
        seen[outcome.email] = outcome.line
    error = (outcome.code, outcome.message)
    return Row(outcome.line, outcome.email, Outcome.FAILED, error, claims, outcome.given_email)


def _seen_before(outcome: UserRecord, markers: dict[str, RowMarker], seen: dict[str, int]) -> Row | None:
    """A row done before a crash (counted again as it was), or a duplicate of an earlier row."""
    email, line = outcome.email, outcome.line
    marker = markers.get(email)
    given = outcome.given_email
    if marker is not None and marker.line == line:
        seen[email] = line
        return Row(line, email, Outcome(marker.outcome), marker.error, True, given, marker.reason)
    first = marker.line if marker is not None else seen.get(email)
    if first is None:
        return None
    message = f"{email} is already on line {first}; the first row wins."
    return Row(line, email, Outcome.FAILED, ("duplicate_email", message), False, given)


def _row_user_id(record: ImportRecord, line: int) -> str:
    """The id of the user a row creates: the same every time the row is read."""
    return ids.derived_id(f"{record.domain}/{record.id}/{line}", int(record.created_at.timestamp() * 1000))


def _active_admin(user: User) -> int:
    return int(user.status is UserStatus.ACTIVE and user.role is Role.ADMIN)
