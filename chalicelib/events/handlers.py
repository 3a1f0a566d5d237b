"""The Lambda event handlers: one per SQS queue, each a loop over records calling the per-record
function. batch_size=1, so a failure retries only its own message (Chalice cannot report partial
batch failures) and lands in the queue's dead-letter queue after maxReceiveCount tries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from chalice.app import Blueprint, SQSEvent

from chalicelib.core.config import JOBS_QUEUE, S3_EVENTS_QUEUE
from chalicelib.core.log import correlation_id, work
from chalicelib.domain.s3_object import S3Object
from chalicelib.events import jobs, s3_events

bp = Blueprint(__name__)


def _import_object(s3_object: S3Object) -> None:
    from chalicelib.bootstrap import services  # the composition root, resolved per call

    services().imports.on_object(s3_object)


def _report_logs(s3_object: S3Object) -> None:
    from chalicelib.bootstrap import services

    services().reports.on_object(s3_object)


s3_events.PROCESSORS["imports/"] = _import_object  # §7: idempotent by the object's identity
s3_events.PROCESSORS["reports/"] = _report_logs  # §8: idempotent by the report's status (one move)


@bp.on_sqs_message(queue=S3_EVENTS_QUEUE, batch_size=1)
def on_s3_event(event: SQSEvent) -> None:
    _each_record(event, "s3_event", s3_events.handle_message, _s3_fields)


@bp.on_sqs_message(queue=JOBS_QUEUE, batch_size=1)
def on_job(event: SQSEvent) -> None:
    _each_record(event, "job", jobs.handle_message, _job_fields)


def _each_record(
    event: SQSEvent,
    kind: str,
    handle: Callable[[str, int], object],
    describe: Callable[[Any], dict[str, object]],
) -> None:
    """Calls the per-record function with the message id as the log correlation key, and how
    many times SQS has delivered the message (the last delivery may give up cleanly); then logs
    the record's one summary line (what it was, how it ended, its duration and AWS calls)."""
    for record in event:
        raw = record.to_dict()
        message_id = raw.get("messageId")
        token = correlation_id.set(message_id)
        try:
            receives = int((raw.get("attributes") or {}).get("ApproximateReceiveCount", 1))
            fields = {"event": kind, "message_id": message_id, "receives": receives}
            with work("event", **fields, **_described(describe, record.body)) as line:
                handled = handle(record.body, receives)
                line["outcome"] = "ok" if handled else "dropped"
        finally:
            correlation_id.reset(token)


def _described(describe: Callable[[Any], dict[str, object]], body: str) -> dict[str, object]:
    """What the summary line tells of a message: a few named fields, never the body itself."""
    try:
        return describe(json.loads(body))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}


def _job_fields(message: Any) -> dict[str, object]:
    return {"job_kind": str(message["kind"]), "domain": str(message.get("domain") or "")}


def _s3_fields(notification: Any) -> dict[str, object]:
    """The object's area and domain (`imports/acme`): keys hold domains and ids, no secret."""
    key = unquote_plus(str(notification["Records"][0]["s3"]["object"]["key"]))
    area, domain = [*key.split("/"), ""][:2]
    return {"key_prefix": f"{area}/{domain}", "domain": domain}
