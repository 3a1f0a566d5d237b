"""An import as it is kept (API.md §7): its options, status, counts and checkpoint, and the
marker each row leaves behind; shared by the layers that store, run and show imports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

COUNT_NAMES = ("rows", "created", "updated", "skipped", "activated", "deactivated", "failed")
GIVEN_OPTION_CHARS = 100  # of each metadata value kept on a refused drop's record


@dataclass(frozen=True)
class Checkpoint:
    """Where the next chunk starts, and what the chunks before it produced."""

    offset: int = 0  # byte offset of the next record in the file (0: the heading is still to read)
    line: int = 1
    chunk: int = 0  # chunks done (names the report parts)
    errors_kept: int = 0


@dataclass(frozen=True)
class ImportRecord:
    id: str
    domain: str
    status: str  # pending | processing | completed | failed
    mode: str  # skip | update
    send_invites: bool
    dry_run: bool
    source: str  # upload | drop
    s3_key: str
    requested_by: str | None  # an admin's email; None: every admin of the domain
    created_at: datetime
    updated_at: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    checkpoint: Checkpoint = Checkpoint()
    object_etag: str | None = None
    object_version: str | None = None  # the S3 version it reads (a versioned bucket), else None
    job_id: str | None = None
    error: dict[str, str] | None = None  # why a whole file failed: {code, message}
    invited: bool = False  # the invitations of its new users went out (or are going)
    report_key: str | None = None
    finished_at: datetime | None = None
    # A drop refused at intake: its metadata as given (mode, send-invites, dry-run, requested-by;
    # text, each cut to GIVEN_OPTION_CHARS), so that its record shows what was asked, not defaults.
    given_options: dict[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")


@dataclass(frozen=True)
class RowMarker:
    import_id: str
    line: int
    outcome: str
    user_id: str | None = None
    error: tuple[str, str] | None = None  # (code, message) of a failed row
    reason: str = ""  # why a row that changed nothing did not (the report's reason column)
