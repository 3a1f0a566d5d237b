"""The Lambda event handlers: one per SQS queue, each a loop over records calling the per-record
function. batch_size=1, so a failure retries only its own message (Chalice cannot report partial
batch failures) and lands in the queue's dead-letter queue after maxReceiveCount tries."""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Blueprint, SQSEvent

from chalicelib.core.config import JOBS_QUEUE, S3_EVENTS_QUEUE
from chalicelib.core.log import correlation_id
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
    _each_record(event, s3_events.handle_message)


@bp.on_sqs_message(queue=JOBS_QUEUE, batch_size=1)
def on_job(event: SQSEvent) -> None:
    _each_record(event, jobs.handle_message)


def _each_record(event: SQSEvent, handle: Callable[[str, int], object]) -> None:
    """Calls the per-record function with the message id as the log correlation key, and how
    many times SQS has delivered the message (the last delivery may give up cleanly)."""
    for record in event:
        raw = record.to_dict()
        token = correlation_id.set(raw.get("messageId"))
        try:
            receives = int((raw.get("attributes") or {}).get("ApproximateReceiveCount", 1))
            handle(record.body, receives)
        finally:
            correlation_id.reset(token)
