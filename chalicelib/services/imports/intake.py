"""The ways into an import (API.md §7): `POST /admin/imports` (a record and a presigned upload),
an operator's drop under `imports/<domain>/`, and the S3 event that both end in; the list, the
details and the later invitations of imports.

Idempotency of the S3 event (delivered at least once): the object's claim (bucket, key and the
event's `versionId`, else its `sequencer`: one object among all those put at the key) is written
in one transaction with the import's record, once; a duplicate event finds the claim, is logged
as a duplicate of the import it names, and only restarts a job that never started."""

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
from chalicelib.domain.import_record import GIVEN_OPTION_CHARS, ImportRecord
from chalicelib.domain.imports import ImportMode
from chalicelib.domain.models import Domain, DomainStatus, Principal, Retention
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
    tagging: str | None = None  # the object's tags (a HIPAA domain's), which the upload must send


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
        tagging = principal.retention.object_tagging
        url = self._files.presign_put(record.s3_key, settings.presign_seconds, size, tagging)
        return NewImport(
            record, url, now + timedelta(seconds=settings.presign_seconds), settings.max_import_bytes, tagging
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
        """An object landed under imports/<domain>/: claim it once and start its job.

        Every object is its own import (API.md §7), identified by its event's `versionId`, else
        its `sequencer`: the same bytes dropped again at a key are a new import; a second delivery
        of one event finds the claim and is logged as a duplicate. An object at an upload's key
        (`POST /admin/imports`) is that upload's file only while the upload is pending: the first
        object wins, and any later one at that key is logged as refused for that import. In a
        HIPAA domain the object gets the retention tag first, whatever becomes of it (`_tag`)."""
        parts = s3_object.key.split("/")
        if len(parts) != 3 or not parts[2] or not rules.DOMAIN_NAME.match(parts[1]):
            log.warning(
                "import object outside imports/<domain>/<name>; ignored",
                extra={"fields": {"key": s3_object.key}},
            )
            return
        domain_name, name = parts[1], parts[2]
        described = _described(s3_object)
        if not s3_object.version_id and not s3_object.sequencer:
            log.warning(
                "S3 event record without versionId or sequencer: the import is identified by the "
                "object's ETag, so the same bytes put again at this key count as a duplicate",
                extra={"fields": {"domain": domain_name, **described}},
            )
        identity = ImportRepository.object_identity(
            s3_object.bucket, s3_object.key, s3_object.version_id, s3_object.sequencer, s3_object.etag
        )
        claimed = self._imports.claimed_by(domain_name, identity)
        if claimed is not None:
            _log_duplicate(domain_name, described, claimed)
            self._restart_if_never_started(domain_name, claimed)
            return
        head = self._files.head(s3_object.key, s3_object.version_id)
        if head is None:
            log.warning("import object gone before it was read", extra={"fields": described})
            return
        domain = self._domains.get(domain_name)
        if domain is None or domain.status is DomainStatus.DELETING:
            self._nobodys(domain, s3_object, described)
            return
        self._tag(domain, s3_object, described)
        built = self._record_for(domain_name, domain, name, s3_object, head, described)
        if built is None:
            return
        record, refusal, upload = built
        if refusal is not None:
            record = replace(record, status="failed", error=refusal, finished_at=record.updated_at)
        else:
            record = replace(record, status="processing", job_id=ids.new_id())
        tx = Transaction(self._table)
        tx.add(self._imports.object_claim_op(domain_name, identity, record.id, described))
        tx.add(self._imports.save_op(record, upload) if upload else self._imports.create_op(record))
        tx.add(self._imports.object_claim_register_op(domain_name, identity))
        if not upload:
            tx.add(self._imports.register_op(record))
        try:
            tx.commit()
        except AppError:  # another delivery of this event claimed it first, or bound the upload
            self._lost_the_claim(domain_name, identity, described, upload)
            return
        claim = {"domain": domain_name, **described, "import_id": record.id, "status": record.status}
        log.info("import object claimed", extra={"fields": claim})
        if refusal is not None:
            fields = {"domain": domain_name, "import_id": record.id, **refusal}
            log.warning("import refused", extra={"fields": fields})
            self._outcome.notify(record)
            return
        self._start_job(record)

    def _nobodys(self, domain: Domain | None, s3_object: S3Object, described: dict[str, str | None]) -> None:
        """A drop for no domain, or for one being deleted, is logged and nothing is written under
        the name: the name may be provisioned (again) later, and must start empty. The object of a
        domain being deleted goes (its purge may have listed the prefix already); one for an
        unknown name is left for the operator, who may have mistyped it."""
        if domain is None:
            log.warning("import object for an unknown domain; ignored", extra={"fields": described})
            return
        log.warning("import object for a domain being deleted; deleted", extra={"fields": described})
        self._files.delete(s3_object.key)

    def _tag(self, domain: Domain, s3_object: S3Object, described: dict[str, str | None]) -> None:
        """A HIPAA domain's object carries the retention tag, whether the import runs or is refused:
        an upload's presigned PUT signed it, but an operator's `aws s3 cp` cannot be made to, so
        every object is tagged here (its tags kept, ours added: ImportFiles.add_tags). Before the
        claim: a delivery that dies between the two leaves the tagging to the next delivery, which
        finds no claim yet. Idempotent under duplicate S3 events: a second delivery either stops
        at the claim (the first tagged already) or finds the tag there and writes nothing."""
        tagging = Retention(domain.retention_days).object_tagging
        if tagging and self._files.add_tags(s3_object.key, s3_object.version_id, tagging):
            log.info("import object tagged", extra={"fields": {"tagging": tagging, **described}})

    def _record_for(
        self,
        domain_name: str,
        domain: Domain,
        name: str,
        s3_object: S3Object,
        head: dict[str, Any],
        described: dict[str, str | None],
    ) -> tuple[ImportRecord, dict[str, str] | None, ImportRecord | None] | None:
        """The object's import record (not saved yet), why it is refused (None: it runs), and the
        upload's record as read when the object is an upload's file; None when the object is at
        an upload's key but not that upload's file (logged). `domain` is the domain the key names,
        as read."""
        now = self._clock.now()
        replaced = _replaced(s3_object, head)
        upload = self._upload_of(domain_name, name, s3_object.key)
        if upload is not None:
            if upload.status != "pending" or replaced:
                _log_not_for_upload(upload, described, replaced)
                return None
            bound = replace(
                upload, object_etag=head["etag"], object_version=s3_object.version_id, updated_at=now
            )
            return bound, _refusal(domain, bound, head), upload
        if replaced:
            gone, why = self._replaced_drop(domain_name, s3_object, now)
            return gone, why, None
        record, wrong = self._drop_record(domain_name, s3_object, head, now)
        refusal = _refusal(domain, record, head) or wrong
        if refusal is not None:  # its options as given, not the defaults they fell back to
            record = replace(record, given_options=_given_options(head["metadata"]))
        return record, refusal, None

    def _upload_of(self, domain: str, name: str, key: str) -> ImportRecord | None:
        """The record `POST /admin/imports` made for this key (`imports/<domain>/<id>.csv`)."""
        upload_id = name.removesuffix(".csv")
        record = self._imports.get(domain, upload_id) if ids.is_id(upload_id) else None
        if record is None or record.source != "upload" or record.s3_key != key:
            return None
        return record

    def _drop_record(
        self, domain: str, s3_object: S3Object, head: dict[str, Any], now: datetime
    ) -> tuple[ImportRecord, dict[str, str] | None]:
        """A drop's record, with the options of the object's metadata, and what is wrong with
        that metadata (a value that is not one of the option's: refused, never read as a default)."""
        metadata = head["metadata"]
        mode = _choice(metadata.get("mode"))
        send_invites, dry_run = _flag(metadata.get("send-invites")), _flag(metadata.get("dry-run"))
        record = ImportRecord(
            id=ids.new_id(),
            domain=domain,
            status="pending",
            mode=(mode or ImportMode.SKIP).value,
            send_invites=bool(send_invites),
            dry_run=bool(dry_run),
            source="drop",
            s3_key=s3_object.key,
            requested_by=(metadata.get("requested-by") or "").strip().lower() or None,
            object_etag=head["etag"],
            object_version=s3_object.version_id,
            created_at=now,
            updated_at=now,
        )
        wrong = [
            (name, allowed)
            for name, value, allowed in (
                ("mode", mode, "skip or update"),
                ("send-invites", send_invites, "true or false"),
                ("dry-run", dry_run, "true or false"),
            )
            if value is None
        ]
        if not wrong:
            return record, None
        said = "; ".join(f'{name} is "{_shown(metadata[name])}", not {allowed}' for name, allowed in wrong)
        code = "invalid_" + wrong[0][0].replace("-", "_")
        message = f"The object's metadata is not valid ({said}); drop the file again with valid metadata."
        return record, {"code": code, "message": message}

    def _replaced_drop(
        self, domain: str, s3_object: S3Object, now: datetime
    ) -> tuple[ImportRecord, dict[str, str]]:
        """A drop whose object was replaced at its key before its event was handled (a bucket
        that is not versioned keeps only the latest): its bytes and metadata are gone. Its import
        is recorded as failed, so that the operator sees both drops; the later object's own event
        imports the later file."""
        record = ImportRecord(
            id=ids.new_id(),
            domain=domain,
            status="pending",
            mode=ImportMode.SKIP.value,
            send_invites=False,
            dry_run=False,
            source="drop",
            s3_key=s3_object.key,
            requested_by=None,
            object_etag=s3_object.etag.strip('"') or None,
            created_at=now,
            updated_at=now,
            given_options={},  # unknown: the metadata went with the object
        )
        message = (
            f"The file {s3_object.key} was replaced by a later one at the same key before it could be "
            "read; its bytes and metadata are gone. The later file is imported on its own."
        )
        return record, {"code": "object_replaced", "message": message}

    def _lost_the_claim(
        self, domain: str, identity: str, described: dict[str, str | None], upload: ImportRecord | None
    ) -> None:
        """The claim's transaction was refused: another delivery of this event claimed the object
        first (a duplicate), or another object bound the upload's record first (this one is refused)."""
        claimed = self._imports.claimed_by(domain, identity)
        if claimed is not None:
            _log_duplicate(domain, described, claimed)
        elif upload is not None:
            _log_not_for_upload(upload, described, replaced=False)
        else:
            log.warning("import object not claimed; SQS delivers it again", extra={"fields": described})
            raise Conflict("The import object's claim was refused.", "concurrent_change")

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


def _refusal(domain: Domain, record: ImportRecord, head: dict[str, Any]) -> dict[str, str] | None:
    if domain.status is not DomainStatus.ACTIVE:
        return {"code": "domain_suspended", "message": f"The domain {record.domain} is suspended."}
    limit = get_settings().max_import_bytes
    if head["size"] > limit:
        return {"code": "file_too_large", "message": f"The file is larger than {limit} bytes."}
    return None


OPTION_METADATA = ("mode", "send-invites", "dry-run", "requested-by")
_FLAGS = dict.fromkeys(("true", "yes", "y", "1"), True) | dict.fromkeys(("false", "no", "n", "0"), False)


def _choice(value: str | None) -> ImportMode | None:
    """The mode metadata (blank: skip); None for a value that is not a mode."""
    text = (value or "").strip().lower()
    if not text:
        return ImportMode.SKIP
    try:
        return ImportMode(text)
    except ValueError:
        return None


def _flag(value: str | None) -> bool | None:
    """A yes/no metadata value (blank: no); None for a value that is neither."""
    text = (value or "").strip().lower()
    return _FLAGS.get(text) if text else False


def _given_options(metadata: dict[str, str]) -> dict[str, str]:
    """The options of a drop's metadata as given, each cut to GIVEN_OPTION_CHARS."""
    return {
        name.replace("-", "_"): str(metadata[name])[:GIVEN_OPTION_CHARS]
        for name in OPTION_METADATA
        if name in metadata
    }


def _shown(value: str, limit: int = 40) -> str:
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _described(s3_object: S3Object) -> dict[str, str | None]:
    """The object as its event names it, for the logs and the claim."""
    return {
        "bucket": s3_object.bucket,
        "key": s3_object.key,
        "version_id": s3_object.version_id,
        "sequencer": s3_object.sequencer,
    }


# A replacement is certain only when the object at the key changed at least this long after the
# event's object was stored (HeadObject's Last-Modified is to the second).
REPLACED_AFTER = timedelta(seconds=2)


def _replaced(s3_object: S3Object, head: dict[str, Any]) -> bool:
    """Whether the object at the key now is not the event's: another ETag, or stored after the
    event's. Only where the bucket is not versioned (a version is read as itself). Same bytes put
    again within REPLACED_AFTER cannot be told apart: the earlier event then reads the later
    object (its metadata too)."""
    if s3_object.version_id:
        return False
    if s3_object.etag and head["etag"] != s3_object.etag.strip('"'):
        return True
    modified, stored = head.get("last_modified"), s3_object.event_time
    return isinstance(modified, datetime) and stored is not None and modified - stored >= REPLACED_AFTER


def _log_duplicate(domain: str, described: dict[str, str | None], import_id: str) -> None:
    log.info(
        "duplicate S3 event: this object already started an import; nothing more to do",
        extra={"fields": {"domain": domain, **described, "duplicate_of": import_id}},
    )


def _log_not_for_upload(upload: ImportRecord, described: dict[str, str | None], replaced: bool) -> None:
    if replaced:
        message = "object at an upload's key replaced before it was read; the later object binds the upload"
    else:
        message = "object at an upload's key refused: the upload already has its file (the first wins)"
    fields = {"domain": upload.domain, **described, "import_id": upload.id, "status": upload.status}
    log.warning(message, extra={"fields": fields})
