"""The end of an import (API.md §7): the report of every row, the record saved as completed or
failed, the audit entry, and the email to the requesting admin (or every admin).

Idempotency: the record moves to completed or failed under the condition that it is where the
last step read it, so of two deliveries only one finishes it and sends the email; the report's
parts are deleted only after that (a redelivered last step can still join them)."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.core import csv_cells
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.log import get_logger
from chalicelib.domain.import_record import COUNT_NAMES, ImportRecord
from chalicelib.domain.imports import Outcome
from chalicelib.domain.models import AuditEntry, Role, UserStatus
from chalicelib.notifications.email import Email, EmailSender
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.dynamo import ConditionFailed
from chalicelib.repositories.imports import ImportFiles, ImportRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository

log = get_logger(__name__)

REPORT_HEADING = b"line,email,outcome,reason\r\n"
ERRORS_IN_EMAIL = 20


@dataclass
class Row:
    """One data row's outcome, as the report and the counts see it."""

    line: int
    email: str  # normalized: the key of its claim and marker ("" when the row has no valid one)
    outcome: Outcome
    error: tuple[str, str] | None = None
    claims_email: bool = False  # the first row of its email: its marker is written
    given: str = ""  # the Email cell as the file gave it (cut to GIVEN_EMAIL_CHARS): the report's
    reason: str = ""  # why a row that neither created nor updated did what it did


def report_lines(rows: list[Row]) -> bytes:
    """The rows' lines of the report CSV (`line,email,outcome,reason`, API.md §7), one chunk's
    at a time: the email as the file gave it, valid or not, and the reason of every row that
    did not create or update (a failed row's error message). Every cell made safe for a
    spreadsheet."""
    buffer = io.StringIO()
    writer = csv_cells.writer(buffer)
    for row in rows:
        reason = row.error[1] if row.error else row.reason
        writer.writerow([row.line, row.given or row.email, row.outcome.value, reason])
    return buffer.getvalue().encode()


class ImportOutcome:
    def __init__(
        self,
        imports: ImportRepository,
        files: ImportFiles,
        users: UserRepository,
        index: UserIndexRepository,
        audit: AuditRepository,
        mailer: EmailSender,
        clock: Clock,
    ) -> None:
        self._imports = imports
        self._files = files
        self._users = users
        self._index = index
        self._audit = audit
        self._mailer = mailer
        self._clock = clock

    def complete(self, record: ImportRecord, tagging: str | None = None) -> None:
        """`tagging`: the tags the report carries (a HIPAA domain's retention tag), as the step
        that ends the import read them from its domain."""
        report = self._files.join_parts(
            record.domain, record.id, record.checkpoint.chunk, REPORT_HEADING, tagging
        )
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
        self._audit.append(record.domain, self._audit_entry(done))
        self.notify(done)

    def fail(self, record: ImportRecord, error: dict[str, str]) -> None:
        now = self._clock.now()
        failed = replace(record, status="failed", error=error, finished_at=now, updated_at=now)
        try:
            self._imports.save(failed, record)
        except ConditionFailed:
            return
        log.warning("import failed", extra={"fields": {"import_id": record.id, **error}})
        self.notify(failed)

    def notify(self, record: ImportRecord) -> None:
        """The requesting admin (or every admin of the domain) hears how it went."""
        recipients = self._recipients(record)
        if not recipients:
            log.warning("nobody to tell about this import", extra={"fields": {"import_id": record.id}})
            return
        email = summary_email(record, self._imports.errors(record.domain, record.id, ERRORS_IN_EMAIL))
        for to in recipients:
            try:
                self._mailer.send(replace(email, to=to))
            except Exception:  # the import stands; its page shows the same
                log.exception("import email not sent", extra={"fields": {"import_id": record.id}})

    def _audit_entry(self, record: ImportRecord) -> AuditEntry:
        return AuditEntry(
            at=self._clock.now(),
            actor=record.requested_by or "s3-drop",
            action="import.dry_run" if record.dry_run else "import.completed",
            target=f"import:{record.id}",
            details={"file": record.s3_key, "mode": record.mode, "counts": record.counts},
        )

    def _recipients(self, record: ImportRecord) -> list[str]:
        domain = record.domain
        if record.requested_by:
            credentials = self._users.get_credentials(domain, record.requested_by)
            user = self._users.get(domain, credentials.user_id) if credentials else None
            if user and user.role is Role.ADMIN and user.status is UserStatus.ACTIVE:
                return [user.email]
        admin_ids = self._index.admins_with_status(domain, UserStatus.ACTIVE.value)
        return [u.email for u in self._users.get_many(domain, admin_ids)]


def summary_email(record: ImportRecord, errors: list[dict[str, Any]]) -> Email:
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
