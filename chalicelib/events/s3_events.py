"""S3 object events, delivered through the S3-events SQS queue (infra/template.yaml).

One SQS message holds one S3 notification (one or more records). Each record is routed by the
object key's prefix to the processor of that area; the import (§7) and problem-report (§8)
processors register here as they land. A prefix with no processor is logged and dropped, never
raised: a poison message would otherwise loop to the dead-letter queue for nothing.

Idempotency: S3 and SQS both deliver at least once, so every processor must be keyed by the
object (bucket, key, version/etag) and change nothing the second time; this router itself keeps
no state and has no side effect of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
        )
    except (KeyError, TypeError, ValueError):
        log.warning("S3 event record without bucket or key; dropped")
        return None


def _dispatch(s3_object: S3Object) -> bool:
    if not s3_object.event_name.startswith("ObjectCreated"):
        return False
    for prefix, processor in PROCESSORS.items():
        if s3_object.key.startswith(prefix):
            processor(s3_object)
            return True
    log.info("no processor for this S3 key; ignored", extra={"fields": {"key": s3_object.key}})
    return False
