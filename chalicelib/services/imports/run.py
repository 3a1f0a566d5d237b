"""The `import_users` job (API.md §7): each step reads the file as a stream from the import's
checkpoint, a chunk of rows at a time (`OC_IMPORT_CHUNK_ROWS`), hands each chunk to the
`ChunkProcessor`, writes the chunk's markers, errors and part of the report, and saves the
checkpoint; before Lambda's limit (`OC_IMPORT_STEP_SECONDS`) it hands the rest to the next step.

Idempotency (SQS delivers a step at least once, and may deliver it twice at the same moment):
the checkpoint moves under the condition that it is where the chunk started, so of two
deliveries only one moves it; a chunk read again finds its rows' markers and changes nothing
more (see chunks.py); errors and report parts are keyed by line and chunk."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from chalicelib.core import metrics
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.domain.import_record import Checkpoint, ImportRecord, RowMarker
from chalicelib.domain.imports import Outcome
from chalicelib.domain.models import DomainStatus, Retention
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
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.imports import ImportFiles, ImportRepository, ObjectReplaced
from chalicelib.repositories.jobs import Job
from chalicelib.services.imports.chunks import ChunkProcessor
from chalicelib.services.imports.outcome import ImportOutcome, Row, report_lines
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.memberships import DefaultGroupJoiner

IMPORT_JOB = "import_users"
MAX_ERRORS_KEPT = 1000
_REPLACED_MESSAGE = (
    "The file {key} was replaced by another at the same key while it was imported; the rows read "
    "before stand (see the counts). The other file, dropped, is imported on its own; an upload's "
    "key takes one file: start a new import for another."
)

Records = Iterator[tuple[UserRecord | RowError, Position]]


class ImportRun:
    def __init__(
        self,
        imports: ImportRepository,
        files: ImportFiles,
        domains: DomainRepository,
        joiner: DefaultGroupJoiner,
        chunks: ChunkProcessor,
        outcome: ImportOutcome,
        jobs: JobService,
        clock: Clock,
    ) -> None:
        self._imports = imports
        self._files = files
        self._domains = domains
        self._joiner = joiner
        self._chunks = chunks
        self._outcome = outcome
        self._clock = clock
        jobs.register(IMPORT_JOB, self.step)

    def step(self, job: Job) -> StepOutcome:
        record = self._imports.get(job.domain, str(job.payload.get("import_id")))
        if record is None or record.status != "processing":
            return StepOutcome(done=0, checkpoint="gone", finished=True)
        started = time.monotonic()
        deadline = started + get_settings().import_step_seconds
        try:
            record, rows_done, finished, tagging = self._run_chunks(record, deadline)
            metrics.rows_per_second("Import", rows_done, time.monotonic() - started, domain=job.domain)
        except ObjectReplaced:
            error = CsvFileError("object_replaced", _REPLACED_MESSAGE.format(key=record.s3_key))
            self._outcome.fail(record, {"code": error.code, "message": error.message})
            return StepOutcome(done=0, checkpoint="failed", finished=True, failed=True)
        except CsvFileError as error:
            self._outcome.fail(record, {"code": error.code, "message": error.message})
            return StepOutcome(done=0, checkpoint="failed", finished=True, failed=True)
        if not finished:
            return StepOutcome(done=rows_done, checkpoint=f"chunk-{record.checkpoint.chunk}", finished=False)
        self._outcome.complete(record, tagging)
        return StepOutcome(
            done=rows_done, checkpoint="completed", finished=True, result={"import_id": record.id}
        )

    def _run_chunks(
        self, record: ImportRecord, deadline: float
    ) -> tuple[ImportRecord, int, bool, str | None]:
        """The chunks of one step: the record as saved after the last, the rows read, whether the
        file is done, and the tags of the objects the import writes (a HIPAA domain's retention
        tag, from the domain this step reads anyway: no call more)."""
        heading, rows = self._open(record)
        domain = self._domains.get(record.domain)
        if domain is None or domain.status is not DomainStatus.ACTIVE:
            raise CsvFileError("domain_suspended", "The domain was suspended or deleted during the import.")
        tagging = Retention(domain.retention_days).object_tagging
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
                return record, done, True, tagging
            rows_read = self._chunks.process(record, [outcome for outcome, _ in chunk], domain, defaults)
            record = self._save_chunk(record, rows_read, chunk[-1][1], tagging)
            done += len(chunk)
            if time.monotonic() > deadline:
                return record, done, False, tagging
            domain = self._domains.get(record.domain) or domain  # seats move as others work

    def _open(self, record: ImportRecord) -> tuple[Heading, Records]:
        """The file the import started with: its version (a versioned bucket), else the object at
        the key on the condition that its ETag is still the one claimed (ObjectReplaced if not)."""
        etag, version = record.object_etag, record.object_version
        if record.checkpoint.offset == 0:
            return read_file(self._files.open(record.s3_key, 0, etag, version))
        heading, _ = read_heading(self._files.open(record.s3_key, 0, etag, version))
        start = Position(record.checkpoint.offset, record.checkpoint.line)
        rest = self._files.open(record.s3_key, start.offset, etag, version)
        return heading, read_records(rest, heading, start)

    def _save_chunk(
        self, record: ImportRecord, rows: list[Row], end: Position, tagging: str | None
    ) -> ImportRecord:
        """The chunk's outputs, then the checkpoint past it (ConditionFailed: another delivery
        moved it on first; this one stops, and SQS lets the message go after its retries)."""
        self._write_outputs(record, rows, tagging)
        counts = dict(record.counts)
        counts["rows"] += len(rows)
        for row in rows:
            counts[row.outcome.value] += 1
        errors = record.checkpoint.errors_kept + sum(1 for r in rows if r.error)
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
        self._imports.save(moved, record)
        return moved

    def _write_outputs(self, record: ImportRecord, rows: list[Row], tagging: str | None) -> None:
        """Markers of the rows that changed nothing (so a later duplicate is found), the first
        1 000 errors, and this chunk's part of the report; all keyed by line or chunk."""
        now = self._clock.now()
        items = []
        room = MAX_ERRORS_KEPT - record.checkpoint.errors_kept
        for row in rows:
            wrote_marker = not record.dry_run and row.outcome not in (Outcome.SKIPPED, Outcome.FAILED)
            if row.claims_email and not wrote_marker:
                marker = RowMarker(record.id, row.line, row.outcome.value, None, row.error, row.reason)
                items += self._imports.marker_items(record.domain, row.email, marker, now)
            if row.error and room > 0:
                items.append(self._imports.error_item(record.domain, record.id, row.line, 0, *row.error))
                room -= 1
        self._imports.put_many(items)
        self._files.put_part(record.domain, record.id, record.checkpoint.chunk, report_lines(rows), tagging)


def _take(rows: Iterator[Any], size: int) -> Iterator[Any]:
    for _ in range(size):
        try:
            yield next(rows)
        except StopIteration:
            return
