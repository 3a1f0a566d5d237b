"""An object that landed in the bucket, as an S3 event names it: what the events layer parses
and the services that process uploads (imports, problem reports) receive.

`version_id` and `sequencer` identify the event's object among every object ever put at its key
(API.md §7: every new object is a new import): S3 gives `versionId` where the bucket's
versioning is Enabled, and `sequencer` (an opaque hex string that only grows for one key; compare
two only for the same key) in every ObjectCreated record. A second delivery of the same event
carries the same values; a new PUT of the same bytes carries new ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    etag: str
    event_name: str
    version_id: str | None = None  # None: the bucket is not versioned (S3 omits it, or says "null")
    sequencer: str | None = None
    event_time: datetime | None = None  # when S3 finished storing the object, as the event says
