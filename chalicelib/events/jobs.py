"""Background jobs, delivered through the jobs SQS queue (infra/template.yaml).

A message is `{"kind", "domain", "job_id", "checkpoint"}`; the job framework
(services/jobs.py) runs the step it names. An unknown kind or a malformed message is logged and
dropped (retrying cannot fix it).

Idempotency: SQS delivers at least once. A step's writes are idempotent, and the job's
checkpoint is saved under the condition that it has not moved since the step began, so a second
delivery of the same message finds the job past it (or finished) and does nothing.
"""

from __future__ import annotations

import json

from chalicelib.bootstrap import services
from chalicelib.core.log import get_logger

log = get_logger(__name__)


# The queue's maxReceiveCount (infra/template.yaml): the delivery after which SQS gives up.
LAST_DELIVERY = 5


def handle_message(body: str, receives: int = 1) -> bool:
    """Runs the job step a message names; returns whether the message named a known kind. When
    the last delivery fails too, the job is marked failed (so nobody waits on it forever) and
    the error is raised again, which sends the message to the dead-letter queue."""
    try:
        message = json.loads(body)
    except ValueError:
        log.warning("job message is not JSON; dropped")
        return False
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        log.warning("job message without a kind; dropped")
        return False
    jobs = services().jobs
    if message["kind"] not in jobs.kinds():
        log.warning("unsupported job kind; dropped", extra={"fields": {"kind": message["kind"]}})
        return False
    try:
        jobs.handle(message)
    except Exception:
        if receives >= LAST_DELIVERY:
            jobs.mark_failed(message, "the job kept failing; its message is in the dead-letter queue")
        raise
    return True
