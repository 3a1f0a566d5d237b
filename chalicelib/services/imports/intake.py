"""The ways into an import (API.md §7): `POST /admin/imports` (a record and a presigned upload),
an operator's drop under `imports/<domain>/`, and the S3 event that both end in; the list, the
details and the later invitations of imports.

Idempotency of the S3 event (delivered at least once): the object's claim (`bucket/key/etag`)
is written in one transaction with the import's record, once; a duplicate event finds the claim
and only restarts a job that never started."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import AppError, Conflict, NotFound, PayloadTooLarge
from chalicelib.core.log import get_logger
from chalicelib.domain import rules
from chalicelib.domain.import_record import ImportRecord
from chalicelib.domain.imports import ImportMode
from chalicelib.domain.models import DomainStatus, Principal
from chalicelib.domain.s3_object import S3Object
from chalicelib.repositories import keys
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.imports import ImportFiles, ImportRepository
from chalicelib.repositories.jobs import Job
from chalicelib.services.import_invitations import ImportInvitations
from chalicelib.services.imports.outcome import ImportOutcome
from chalicelib.services.imports.run import IMPORT_JOB, MAX_ERRORS_KEPT
from chalicelib.services.jobs import JobService
from chalicelib.services.transaction import Transaction

log = get_logger(__name__)


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


class ImportService:
    def __init__(
        self,
        table: Table,
        imports: ImportRepository,
        files: ImportFiles,
        domains: DomainRepository,
        jobs: JobService,
        inviter: ImportInvitations,
        outcome: ImportOutcome,
        clock: Clock,
    ) -> None:
        self._table = table
        self._imports = imports
        self._files = files
        self._domains = domains
        self._jobs = jobs
        self._inviter = inviter
        self._outcome = outcome
        self._clock = clock

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
        scope = cursor_scope("imports", principal.domain)
        start = decode_cursor(cursor, "pk", keys.domain_imports_pk(principal.domain), scope=scope)
        records, last = self._imports.list_imports(principal.domain, limit, start)
        return records, encode_cursor(last, scope=scope)

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
        tx.add(self._imports.object_claim_op(domain_name, identity, record.id))
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
            self._outcome.notify(record)
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


def _choice(value: str | None, enum: type[ImportMode], default: ImportMode) -> ImportMode:
    try:
        return enum((value or "").strip().lower())
    except ValueError:
        return default


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1", "y")
