"""An object that landed in the bucket, as an S3 event names it: what the events layer parses
and the services that process uploads (imports, problem reports) receive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    etag: str
    event_name: str
