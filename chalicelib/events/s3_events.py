"""S3 object events, delivered through the S3-events SQS queue (infra/template.yaml).

One SQS message holds one S3 notification (one or more records). Each record is routed by the
object key's prefix to the processor of that area; the import (§7) and problem-report (§8)
processors register here as they land. A prefix with no processor is logged and dropped, never
raised: a poison message would otherwise loop to the dead-letter queue for nothing.

Idempotency: S3 and SQS both deliver at least once, so every processor must be keyed by the
object (bucket, key, and the record's `versionId`, else its `sequencer`: a new PUT of the same
bytes is a new object, a second delivery of one event is not) and change nothing the second
time; this router itself keeps no state and has no side effect of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from chalicelib.core.log import get_logger
from chalicelib.domain.s3_object import S3Object

log = get_logger(__name__)


Processor = Callable[[S3Object], None]

# prefix -> processor; filled in by the areas that own a prefix (imports/, reports/).
PROCESSORS: dict[str, Processor] = {}


def handle_message(body: str, receives: int = 1) -> int:
    """Handles one SQS message body; returns how many records reached a processor."""
    try:
        notification = json.loads(body)
    except ValueError:
        log.warning("S3 event message is not JSON; dropped")
        return 0
    if not isinstance(notification, dict):
        log.warning("S3 event message is not an object; dropped")
        return 0
    if notification.get("Event") == "s3:TestEvent":
        return 0  # S3 sends one when the notification is configured
    handled = 0
    for record in notification.get("Records") or []:
        s3_object = _parse_record(record)
        if s3_object is not None and _dispatch(s3_object):
            handled += 1
    return handled


def _parse_record(record: Any) -> S3Object | None:
    try:
        s3 = record["s3"]
        return S3Object(
            bucket=s3["bucket"]["name"],
            key=unquote_plus(s3["object"]["key"]),  # S3 URL-encodes keys in events
            size=int(s3["object"].get("size", 0)),
            etag=str(s3["object"].get("eTag", "")),
            event_name=str(record.get("eventName", "")),
            version_id=_text(s3["object"].get("versionId"), unversioned="null"),
            sequencer=_text(s3["object"].get("sequencer")),
            event_time=_time(record.get("eventTime")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("S3 event record without bucket or key; dropped")
        return None


def _text(value: Any, unversioned: str | None = None) -> str | None:
    """A string field of the record; None when absent, empty, or S3's "null" version (an object
    of a bucket whose versioning is off or suspended: a later PUT gets "null" too)."""
    if not isinstance(value, str) or not value.strip() or value == unversioned:
        return None
    return value.strip()


def _time(value: Any) -> datetime | None:
    """The record's eventTime (ISO 8601, UTC: `2026-11-24T12:00:00.123Z`); None if unreadable."""
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _dispatch(s3_object: S3Object) -> bool:
    if not s3_object.event_name.startswith("ObjectCreated"):
        return False
    for prefix, processor in PROCESSORS.items():
        if s3_object.key.startswith(prefix):
            processor(s3_object)
            return True
    log.info("no processor for this S3 key; ignored", extra={"fields": {"key": s3_object.key}})
    return False
