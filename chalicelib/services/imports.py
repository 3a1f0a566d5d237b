"""§7 Bulk import of users from CSV: two ways in (a presigned upload, an S3 drop), one path.

The S3 event (through the S3-events queue) claims the object and starts an `import_users` job;
each job step reads the file as a stream from the import's checkpoint, a chunk of rows at a
time, and saves the checkpoint (byte offset, line, counts) after every chunk; before Lambda's
limit it hands the rest to the next step (a new job message). With `send_invites` each chunk
invites the users it created. At the end it joins the report and emails the admin(s).

Idempotency (S3 and SQS deliver at least once):
- the object's claim (`bucket/key/etag`) is written once: a duplicate event finds it and only
  restarts a job that never started;
- every row leaves a marker in its email's partition: an `IMPORT#<id>` item, in the transaction
  of its change; for a row that created its user, that user's EMAIL item, written after all its
  other items and tagged with the import and the line. A chunk read again after a crash finds
  its rows' markers, changes nothing more and counts the same outcomes (and invites its new
  users again); a new user without a marker is written again with the same items (its id
  derives from the row); errors, report parts and the users list are keyed by line or chunk;
- the checkpoint moves under the condition that it is where the chunk started: of two deliveries
  only one moves it;
- the admins' email is sent once the import is saved as completed, and marked sent after.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.cursors import decode_cursor, encode_cursor
from chalicelib.core.errors import AppError, Conflict, NotFound, PayloadTooLarge
from chalicelib.core.log import get_logger
from chalicelib.domain import rules
from chalicelib.domain.import_record import COUNT_NAMES, Checkpoint, ImportRecord, RowMarker
from chalicelib.domain.imports import ImportMode, Outcome, RowPlan, plan_row, seat_refused
from chalicelib.domain.models import (
    AuditEntry,
    Domain,
    DomainStatus,
    Group,
    Principal,
    Role,
    User,
    UserStatus,
)
from chalicelib.domain.s3_object import S3Object
from chalicelib.domain.user_csv import (
    CsvFileError,
    Heading,
    Position,
    RowError,
    UserRecord,
    read_file,
    read_heading,
    read_records,
)
from chalicelib.notifications.email import Email, EmailSender
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.imports import ImportFiles, ImportRepository
from chalicelib.repositories.invites import InviteRepository
from chalicelib.repositories.jobs import Job
from chalicelib.repositories.sessions import SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.import_invitations import ImportInvitations, Invitations
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.memberships import DefaultGroupJoiner
from chalicelib.services.transaction import Transaction
from chalicelib.services.users import last_admin, seat_limit_reached

log = get_logger(__name__)

IMPORT_JOB = "import_users"
MAX_ERRORS_KEPT = 1000
REPORT_HEADING = b"line,email,outcome,error_code,error_message\r\n"
REPORT_LINK_SECONDS = 7 * 24 * 3600  # SigV4's longest


@dataclass(frozen=True)
class ImportOptions:
    mode: ImportMode = ImportMode.SKIP
    send_invites: bool = False
    dry_run: bool = False
    requested_by: str | None = None


@dataclass(frozen=True)
class NewImport:
    record: ImportRecord
    upload_url: str
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class ImportDetails:
    record: ImportRecord
    errors: list[dict[str, Any]]
    report_url: str | None


@dataclass
class _Row:
    """One data row's outcome, as the report and the counts see it."""

    line: int
    email: str
    outcome: Outcome
    error: tuple[str, str] | None = None
    claims_email: bool = False  # the first row of its email: its marker is written


@dataclass
class _Chunk:
    rows: list[_Row] = field(default_factory=list)
    seats_taken: int = 0


class ImportService:
    def __init__(
        self,
        table: Table,
        imports: ImportRepository,
        files: ImportFiles,
        users: UserRepository,
        index: UserIndexRepository,
        domains: DomainRepository,
        invites: InviteRepository,
        sessions: SessionRepository,
        joiner: DefaultGroupJoiner,
        audit: AuditRepository,
        jobs: JobService,
        mailer: EmailSender,
        inviter: ImportInvitations,
        clock: Clock,
    ) -> None:
        self._table = table
        self._imports = imports
        self._files = files
        self._users = users
        self._index = index
        self._domains = domains
        self._invites = invites
        self._sessions = sessions
        self._joiner = joiner
        self._audit = audit
        self._jobs = jobs
        self._mailer = mailer
        self._inviter = inviter
        self._clock = clock
        jobs.register(IMPORT_JOB, self.step)

    # --- the API ----------------------------------------------------------------------------------

    def create(self, principal: Principal, options: ImportOptions, size: int | None) -> NewImport:
        settings = get_settings()
        if size is not None and size > settings.max_import_bytes:
            raise PayloadTooLarge(f"size: a CSV file may be at most {settings.max_import_bytes} bytes.")
        now = self._clock.now()
        import_id = ids.new_id()
        record = ImportRecord(
            id=import_id,
            domain=principal.domain,
            status="pending",
            mode=options.mode.value,
            send_invites=options.send_invites,
            dry_run=options.dry_run,
            source="upload",
            s3_key=ImportFiles.upload_key(principal.domain, import_id),
            requested_by=principal.user.email,
            created_at=now,
            updated_at=now,
        )
        self._imports.create(record)
        url = self._files.presign_put(record.s3_key, settings.presign_seconds, size)
        return NewImport(
            record, url, now + timedelta(seconds=settings.presign_seconds), settings.max_import_bytes
        )

    def list_imports(
        self, principal: Principal, limit: int, cursor: str | None
    ) -> tuple[list[ImportRecord], str | None]:
        start = decode_cursor(cursor, "pk", keys.domain_imports_pk(principal.domain))
        records, last = self._imports.list_imports(principal.domain, limit, start)
        return records, encode_cursor(last)

    def get(self, principal: Principal, import_id: str) -> ImportDetails:
        record = self._find(principal, import_id)
        report_url = None
        if record.report_key:
            report_url = self._files.presign_get(
                record.report_key, f"import-{record.id}.csv", get_settings().presign_seconds
            )
        errors = self._imports.errors(record.domain, record.id, MAX_ERRORS_KEPT)
        return ImportDetails(record, errors, report_url)

    def invite(self, principal: Principal, import_id: str) -> tuple[ImportRecord, Job | None]:
        """The invitations of the users an import created, once."""
        record = self._find(principal, import_id)
        if record.dry_run:
            raise Conflict("A dry run created nobody to invite; import the file for real.", "dry_run")
        if record.status != "completed":
            raise Conflict("The import has not completed yet; invite when it has.", "import_not_completed")
        if record.invited:
            raise Conflict("The invitations of this import were sent already.", "already_invited")
        invited = replace(record, invited=True, updated_at=self._clock.now())
        try:
            self._imports.save(invited, record)
        except ConditionFailed:
            raise Conflict("The invitations of this import were sent already.", "already_invited") from None
        return invited, self._inviter.start(invited)

    def _find(self, principal: Principal, import_id: str) -> ImportRecord:
        record = self._imports.get(principal.domain, import_id) if ids.is_id(import_id) else None
        if record is None:
            raise NotFound("There is no such import in this domain.", "import_not_found")
        return record

    # --- the S3 event ---------------------------------------------------------------------------

    def on_object(self, s3_object: S3Object) -> None:
        """An object landed under imports/<domain>/: claim it once and start its job."""
        parts = s3_object.key.split("/")
        if len(parts) != 3 or not parts[2] or not rules.DOMAIN_NAME.match(parts[1]):
            log.warning(
                "import object outside imports/<domain>/<name>; ignored",
                extra={"fields": {"key": s3_object.key}},
            )
            return
        domain_name, name = parts[1], parts[2]
        identity = ImportRepository.object_identity(s3_object.bucket, s3_object.key, s3_object.etag)
        claimed = self._imports.claimed_by(domain_name, identity)
        if claimed is not None:
            self._restart_if_never_started(domain_name, claimed)
            return
        head = self._files.head(s3_object.key)
        if head is None:
            log.warning("import object gone before it was read", extra={"fields": {"key": s3_object.key}})
            return
        record = self._record_for(domain_name, name, s3_object, head)
        refusal = self._refusal(record, head)
        if refusal is not None:
            record = replace(record, status="failed", error=refusal, finished_at=self._clock.now())
        else:
            record = replace(record, status="processing", job_id=ids.new_id())
        tx = Transaction(self._table)
        tx.add(self._imports.claim_op(domain_name, identity, record.id))
        pending = self._imports.get(domain_name, record.id) if record.source == "upload" else None
        if pending is not None:
            tx.add(self._imports.save_op(record, pending))
        else:
            tx.add(self._imports.create_op(record))
        try:
            tx.commit()
        except AppError:  # another delivery of this event claimed it first
            log.info("import object already claimed", extra={"fields": {"key": s3_object.key}})
            return
        if refusal is not None:
            log.warning("import refused", extra={"fields": {"domain": domain_name, **refusal}})
            self._notify(record)
            return
        self._start_job(record)

    def _record_for(self, domain: str, name: str, s3_object: S3Object, head: dict[str, Any]) -> ImportRecord:
        """The upload's own record (the options chosen at POST /admin/imports), or a new one for
        a drop, with the options of the object's metadata."""
        now = self._clock.now()
        upload_id = name.removesuffix(".csv")
        pending = self._imports.get(domain, upload_id) if ids.is_id(upload_id) else None
        if pending is not None and pending.status == "pending" and pending.s3_key == s3_object.key:
            return replace(pending, object_etag=head["etag"], updated_at=now)
        metadata = head["metadata"]
        base = pending if pending is not None and pending.s3_key == s3_object.key else None
        return ImportRecord(
            id=ids.new_id(),
            domain=domain,
            status="pending",
            mode=base.mode if base else _choice(metadata.get("mode"), ImportMode, ImportMode.SKIP).value,
            send_invites=base.send_invites if base else _flag(metadata.get("send-invites")),
            dry_run=base.dry_run if base else _flag(metadata.get("dry-run")),
            source="drop" if base is None else "upload",
            s3_key=s3_object.key,
            requested_by=(
                base.requested_by if base else (metadata.get("requested-by") or "").strip().lower() or None
            ),
            object_etag=head["etag"],
            created_at=now,
            updated_at=now,
        )

    def _refusal(self, record: ImportRecord, head: dict[str, Any]) -> dict[str, str] | None:
        domain = self._domains.get(record.domain)
        if domain is None:
            return {"code": "domain_unknown", "message": f"There is no domain {record.domain}."}
        if domain.status is not DomainStatus.ACTIVE:
            return {"code": "domain_suspended", "message": f"The domain {record.domain} is suspended."}
        limit = get_settings().max_import_bytes
        if head["size"] > limit:
            return {"code": "file_too_large", "message": f"The file is larger than {limit} bytes."}
        metadata = head["metadata"]
        if (
            record.source == "drop"
            and metadata.get("mode")
            and metadata["mode"].lower() not in ("skip", "update")
        ):
            return {"code": "invalid_mode", "message": "The object's mode metadata must be skip or update."}
        return None

    def _start_job(self, record: ImportRecord) -> None:
        assert record.job_id is not None
        self._jobs.start(
            record.domain,
            IMPORT_JOB,
            total=0,
            payload={"import_id": record.id},
            actor=record.requested_by or "s3-drop",
            job_id=record.job_id,
        )

    def _restart_if_never_started(self, domain: str, import_id: str) -> None:
        """A duplicate event: if the first delivery died between the claim and the job, start it."""
        record = self._imports.get(domain, import_id)
        if record is None or record.status != "processing" or record.job_id is None:
            return
        if self._jobs.find(domain, record.job_id) is None:
            self._start_job(record)

    # --- the job ------------------------------------------------------------------------------------

    def step(self, job: Job) -> StepOutcome:
        record = self._imports.get(job.domain, str(job.payload.get("import_id")))
        if record is None or record.status != "processing":
            return StepOutcome(done=0, checkpoint="gone", finished=True)
        deadline = time.monotonic() + get_settings().import_step_seconds
        try:
            record, rows_done, finished = self._run_chunks(record, deadline)
        except CsvFileError as error:
            self._fail(record, {"code": error.code, "message": error.message})
            return StepOutcome(done=0, checkpoint="failed", finished=True, failed=True)
        if not finished:
            return StepOutcome(done=rows_done, checkpoint=f"chunk-{record.checkpoint.chunk}", finished=False)
        self._complete(record)
        return StepOutcome(
            done=rows_done, checkpoint="completed", finished=True, result={"import_id": record.id}
        )

    def _run_chunks(self, record: ImportRecord, deadline: float) -> tuple[ImportRecord, int, bool]:
        heading, rows = self._open(record)
        domain = self._domains.get(record.domain)
        if domain is None or domain.status is not DomainStatus.ACTIVE:
            raise CsvFileError("domain_suspended", "The domain was suspended or deleted during the import.")
        defaults = self._joiner.default_groups(record.domain)
        size = get_settings().import_chunk_rows
        done = 0
        if record.checkpoint.offset == 0 and heading.errors:
            self._imports.put_many(  # one line, several errors: numbered within it
                self._imports.error_item(record.domain, record.id, e.line, n, e.code, e.message)
                for n, e in enumerate(heading.errors)
            )
        while True:
            chunk = list(_take(rows, size))
            if not chunk:
                return record, done, True
            record = self._process_chunk(record, chunk, domain, defaults)
            done += len(chunk)
            if time.monotonic() > deadline:
                return record, done, False
            domain = self._domains.get(record.domain) or domain  # seats move as others work

    def _open(self, record: ImportRecord) -> tuple[Heading, Iterator[tuple[UserRecord | RowError, Position]]]:
        etag = record.object_etag
        if record.checkpoint.offset == 0:
            return read_file(self._files.open(record.s3_key, 0, etag))
        heading, _ = read_heading(self._files.open(record.s3_key, 0, etag))
        start = Position(record.checkpoint.offset, record.checkpoint.line)
        return heading, read_records(self._files.open(record.s3_key, start.offset, etag), heading, start)

    def _process_chunk(
        self,
        record: ImportRecord,
        chunk: list[tuple[UserRecord | RowError, Position]],
        domain: Domain,
        defaults: list[Group],
    ) -> ImportRecord:
        result = self._apply(record, [outcome for outcome, _ in chunk], domain, defaults)
        self._write_chunk_outputs(record, result)
        end = chunk[-1][1]
        counts = dict(record.counts)
        counts["rows"] += len(result.rows)
        for row in result.rows:
            counts[row.outcome.value] += 1
        errors = record.checkpoint.errors_kept + sum(1 for r in result.rows if r.error)
        moved = replace(
            record,
            counts=counts,
            checkpoint=Checkpoint(
                offset=end.offset,
                line=end.line,
                chunk=record.checkpoint.chunk + 1,
                errors_kept=min(errors, MAX_ERRORS_KEPT),
            ),
            updated_at=self._clock.now(),
        )
        self._imports.save(moved, record)  # ConditionFailed: another delivery moved it on; stop
        return moved

    def _apply(
        self,
        record: ImportRecord,
        outcomes: list[UserRecord | RowError],
        domain: Domain,
        defaults: list[Group],
    ) -> _Chunk:
        """Plans every row of the chunk, then writes: new users in BatchWriteItem calls, every
        other change in a transaction of its own with its marker."""
        emails = sorted({o.email for o in outcomes if o.email})
        owners, markers = self._imports.read_rows(record.domain, record.id, emails)
        existing = {u.id: u for u in self._users.get_many(record.domain, [uid for uid, _ in owners.values()])}
        now = self._clock.now()
        chunk_number = record.checkpoint.chunk + 1
        seats_taken_before = self._domains.import_seats_chunk(record.domain, record.id) == chunk_number
        # Read again after a crash, a chunk whose seats were taken plans the same rows again.
        seats_free = domain.seats_total if seats_taken_before else domain.seats_total - domain.seats_used
        seen: dict[str, int] = {}
        result = _Chunk()
        creations: list[tuple[_Row, RowPlan]] = []
        changes: list[tuple[_Row, RowPlan]] = []
        created_before: list[User] = []  # by this chunk, read before: invited again
        for outcome in outcomes:
            if isinstance(outcome, RowError):
                result.rows.append(_bad_row(outcome, markers, seen))
                continue
            known = _seen_before(outcome, markers, seen)
            if known is not None:
                result.rows.append(known)
                if known.claims_email and known.outcome is Outcome.CREATED:
                    created_before += _user_of(markers[known.email], existing)
                continue
            email, line = outcome.email, outcome.line
            seen[email] = line
            new_id = _row_user_id(record, line)
            owner = owners.get(email)
            user = existing.get(owner[0]) if owner else None
            plan = plan_row(
                outcome,
                user,
                bool(owner and owner[1]),
                ImportMode(record.mode),
                new_id,
                record.domain,
                record.created_at,
                record.requested_by,
            )
            if owner and user is None:
                plan = RowPlan(
                    Outcome.FAILED, None, None, ("user_being_deleted", "This user is being deleted.")
                )
            if plan.takes_seat:
                if seats_free <= 0:
                    plan = seat_refused(plan)
                else:
                    seats_free -= 1
            row = _Row(line, email, plan.outcome, plan.error, claims_email=True)
            result.rows.append(row)
            if record.dry_run or plan.outcome in (Outcome.SKIPPED, Outcome.FAILED):
                continue
            (creations if plan.outcome is Outcome.CREATED else changes).append((row, plan))
        self._create_users(record, creations, created_before, domain, defaults, now)
        for row, plan in changes:
            self._change_user(record, row, plan, defaults, now)
        return result

    # --- writes -------------------------------------------------------------------------------------

    def _create_users(
        self,
        record: ImportRecord,
        creations: list[tuple[_Row, RowPlan]],
        created_before: list[User],
        domain: Domain,
        defaults: list[Group],
        now: datetime,
    ) -> None:
        """New users in BatchWriteItem calls (25 items a call, the batching floor). Every item of
        a row is keyed by the row (the user's id derives from the import and the line), so a
        chunk written again writes the same items. The EMAIL items go last, after every other
        item of the chunk has landed: carrying the row's line, each is its row's marker. The
        chunk's seats are taken first, once, in one conditional update (`take_import_seats`).
        With `send_invites` the invitations go out once their INVITE items have landed; a chunk
        read again after a crash invites its new users again (new links, the old die): none is
        left uninvited."""
        created = creations if self._take_seats(record, creations, domain) else []
        items, email_items, users = [], [], []
        for row, plan in created:
            user = plan.after
            assert user is not None
            users.append(user)
            email_item, profile = self._users.create_items(user)
            items.append(profile)
            items += self._index.items(user)
            items += [self._joiner.membership_item(group, user, now) for group in defaults]
            items.append(self._imports.new_user_item(record.domain, record.id, row.line, user.id, user.email))
            email_items.append(self._imports.created_by(email_item, record.id, row.line))
        invited = [u for u in users + created_before if u.status is UserStatus.INVITED]
        invitations = self._inviter.prepare(record.domain, invited) if record.send_invites else Invitations()
        self._imports.put_many(items + invitations.items)
        # The emails go out while the EMAIL items are written (the links work already); should
        # either fail, the chunk is read again and its users invited again.
        with ThreadPoolExecutor(max_workers=1) as mailer:
            sent = mailer.submit(self._inviter.send, invitations)
            self._imports.put_many(email_items)
        sent.result()

    def _take_seats(
        self, record: ImportRecord, creations: list[tuple[_Row, RowPlan]], domain: Domain
    ) -> bool:
        """Takes the chunk's seats, once (a chunk read again finds them taken). False if another
        admin took them meanwhile: these rows fail."""
        chunk = record.checkpoint.chunk + 1
        if not creations or self._domains.import_seats_chunk(record.domain, record.id) == chunk:
            return True
        if self._domains.take_import_seats(
            record.domain, record.id, chunk, len(creations), domain.seats_total
        ):
            return True
        for row, _ in creations:
            row.outcome, row.error = Outcome.FAILED, seat_refused_error()
        return False

    def _change_user(
        self, record: ImportRecord, row: _Row, plan: RowPlan, defaults: list[Group], now: datetime
    ) -> None:
        before, after = plan.before, plan.after
        assert before is not None and after is not None
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
        marker = RowMarker(record.id, row.line, plan.outcome.value, before.id)
        tx.add(
            self._imports.marker_op(record.domain, row.email, marker, now), on_condition_failed=_AlreadyDone()
        )
        self._commit_row(tx, record, row)
        if plan.outcome is Outcome.DEACTIVATED and row.outcome is Outcome.DEACTIVATED:
            self._sessions.delete_all_of_user(record.domain, before.id)

    def _commit_row(self, tx: Transaction, record: ImportRecord, row: _Row) -> None:
        try:
            tx.commit()
        except _AlreadyDone:
            return
        except AppError as error:
            row.outcome, row.error = Outcome.FAILED, (error.code, error.message)

    def _write_chunk_outputs(self, record: ImportRecord, chunk: _Chunk) -> None:
        """Markers of the rows that changed nothing (so a later duplicate is found), the first
        1 000 errors, and this chunk's part of the report; all keyed by line or chunk."""
        now = self._clock.now()
        items = []
        room = MAX_ERRORS_KEPT - record.checkpoint.errors_kept
        for row in chunk.rows:
            wrote_marker = record.dry_run is False and row.outcome not in (Outcome.SKIPPED, Outcome.FAILED)
            if row.claims_email and not wrote_marker:
                marker = RowMarker(record.id, row.line, row.outcome.value, None, row.error)
                items.append(self._imports.marker_item(record.domain, row.email, marker, now))
            if row.error and room > 0:
                items.append(self._imports.error_item(record.domain, record.id, row.line, 0, *row.error))
                room -= 1
        self._imports.put_many(items)
        self._files.put_part(record.domain, record.id, record.checkpoint.chunk, _report_lines(chunk.rows))

    # --- the end --------------------------------------------------------------------------------------

    def _complete(self, record: ImportRecord) -> None:
        report = self._files.join_parts(record.domain, record.id, record.checkpoint.chunk, REPORT_HEADING)
        now = self._clock.now()
        invited = record.send_invites and not record.dry_run and record.counts["created"] > 0
        done = replace(
            record, status="completed", report_key=report, invited=invited, finished_at=now, updated_at=now
        )
        try:
            self._imports.save(done, record)
        except ConditionFailed:
            return  # another delivery completed it
        self._files.delete_parts(record.domain, record.id, record.checkpoint.chunk)
        self._domains.forget_import_seats(record.domain, record.id)
        self._audit.append(record.domain, self._audit_entry(done))
        self._notify(done)

    def _fail(self, record: ImportRecord, error: dict[str, str]) -> None:
        now = self._clock.now()
        failed = replace(record, status="failed", error=error, finished_at=now, updated_at=now)
        try:
            self._imports.save(failed, record)
        except ConditionFailed:
            return
        log.warning("import failed", extra={"fields": {"import_id": record.id, **error}})
        self._notify(failed)

    def _audit_entry(self, record: ImportRecord) -> AuditEntry:
        return AuditEntry(
            at=self._clock.now(),
            actor=record.requested_by or "s3-drop",
            action="import.dry_run" if record.dry_run else "import.completed",
            target=f"import:{record.id}",
            details={"file": record.s3_key, "mode": record.mode, "counts": record.counts},
        )

    def _notify(self, record: ImportRecord) -> None:
        """The requesting admin (or every admin of the domain) hears how it went."""
        recipients = self._recipients(record)
        if not recipients:
            log.warning("nobody to tell about this import", extra={"fields": {"import_id": record.id}})
            return
        email = _summary_email(record, self._imports.errors(record.domain, record.id, 20))
        for to in recipients:
            try:
                self._mailer.send(replace(email, to=to))
            except Exception:  # the import stands; its page shows the same
                log.exception("import email not sent", extra={"fields": {"import_id": record.id}})

    def _recipients(self, record: ImportRecord) -> list[str]:
        domain = record.domain
        if record.requested_by:
            credentials = self._users.get_credentials(domain, record.requested_by)
            user = self._users.get(domain, credentials.user_id) if credentials else None
            if user and user.role is Role.ADMIN and user.status is UserStatus.ACTIVE:
                return [user.email]
        admin_ids = self._index.admins_with_status(domain, UserStatus.ACTIVE.value)
        return [u.email for u in self._users.get_many(domain, admin_ids)]


class _AlreadyDone(AppError):
    """A row's marker was there: another delivery of this chunk did the row."""

    status = 409
    code = "already_done"

    def __init__(self) -> None:
        super().__init__("This row was imported by another delivery.")


def _bad_row(outcome: RowError, markers: dict[str, RowMarker], seen: dict[str, int]) -> _Row:
    """A bad row with a valid email still claims that email (the first row wins), once."""
    earlier = markers.get(outcome.email)
    claims = bool(outcome.email) and outcome.email not in seen
    claims = claims and (earlier is None or earlier.line == outcome.line)
    if claims:
        seen[outcome.email] = outcome.line
    return _Row(outcome.line, outcome.email, Outcome.FAILED, (outcome.code, outcome.message), claims)


def _seen_before(outcome: UserRecord, markers: dict[str, RowMarker], seen: dict[str, int]) -> _Row | None:
    """A row done before a crash (counted again as it was), or a duplicate of an earlier row."""
    email, line = outcome.email, outcome.line
    marker = markers.get(email)
    if marker is not None and marker.line == line:
        seen[email] = line
        return _Row(line, email, Outcome(marker.outcome), marker.error, True)
    first = marker.line if marker is not None else seen.get(email)
    if first is None:
        return None
    message = f"{email} is already on line {first}; the first row wins."
    return _Row(line, email, Outcome.FAILED, ("duplicate_email", message))


def _user_of(marker: RowMarker, users: dict[str, User]) -> list[User]:
    """The user a row's marker names, if it was read (none or one)."""
    user = users.get(marker.user_id) if marker.user_id else None
    return [user] if user is not None else []


def _row_user_id(record: ImportRecord, line: int) -> str:
    """The id of the user a row creates: the same every time the row is read."""
    return ids.derived_id(f"{record.domain}/{record.id}/{line}", int(record.created_at.timestamp() * 1000))


def seat_refused_error() -> tuple[str, str]:
    refused = seat_limit_reached()
    return refused.code, refused.message


def _take(rows: Iterator[Any], size: int) -> Iterator[Any]:
    for _ in range(size):
        try:
            yield next(rows)
        except StopIteration:
            return


def _active_admin(user: User) -> int:
    return int(user.status is UserStatus.ACTIVE and user.role is Role.ADMIN)


def _report_lines(rows: list[_Row]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        code, message = row.error or ("", "")
        writer.writerow([row.line, row.email, row.outcome.value, code, message])
    return buffer.getvalue().encode()


def _choice(value: str | None, enum: type[ImportMode], default: ImportMode) -> ImportMode:
    try:
        return enum((value or "").strip().lower())
    except ValueError:
        return default


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1", "y")


def _summary_email(record: ImportRecord, errors: list[dict[str, Any]]) -> Email:
    settings = get_settings()
    name = record.s3_key.rsplit("/", 1)[-1]
    counts = record.counts
    kind = "Dry run of the import" if record.dry_run else "Import"
    if record.status == "failed":
        error = record.error or {}
        subject = f"{kind} of {name} failed"
        text = f"{kind} of {name} into {record.domain} failed: {error.get('message', 'unknown error')}\n"
        return Email(to="", subject=subject, text=text)
    lines = [
        f"{kind} of {name} into {record.domain} has finished"
        + (" (nothing was changed: it shows what the import would do)." if record.dry_run else "."),
        "",
        *(f"  {n:<12}{counts[n]}" for n in COUNT_NAMES),
        "",
    ]
    if errors:
        lines.append(f"Rows with errors (the first {len(errors)}):")
        lines += [f"  line {e['line']}: {e['message']}" for e in errors]
        lines.append("")
    lines.append(f"Details and the report of every row: GET {settings.public_url}/admin/imports/{record.id}")
    created = counts["created"]
    users = f"{created} new user" + ("" if created == 1 else "s")
    if not record.dry_run and created:
        if record.send_invites:
            lines.append(f"Invitations were emailed to the {users} as the import created them.")
        else:
            lines.append(
                f"Invite the {users}: POST "
                f"{settings.public_url}/admin/imports/{record.id}/invite"
                " (Admin Portal: Users → Invite Users → Import Users)."
            )
    subject = f"{kind} of {name}: {counts['created']} created, {counts['failed']} failed"
    return Email(to="", subject=subject, text="\n".join(lines) + "\n")
