"""Background jobs, delivered through the jobs SQS queue (infra/template.yaml).

A message is `{"kind": str, "domain": str, "job_id": str, ...}`; `kind` selects the runner in
RUNNERS, which the areas with long work (user deletion, bulk actions, default groups) register.
An unknown kind or a malformed message is logged and dropped (retrying cannot fix it).

Idempotency: SQS delivers at least once, so a runner must checkpoint its progress in the job's
own item and resume from it; a message for a job already finished changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.core.log import get_logger

log = get_logger(__name__)

Runner = Callable[[dict[str, Any]], None]

RUNNERS: dict[str, Runner] = {}


def handle_message(body: str) -> bool:
    """Runs the job a message names; returns whether a runner took it."""
    try:
        message = json.loads(body)
    except ValueError:
        log.warning("job message is not JSON; dropped")
        return False
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        log.warning("job message without a kind; dropped")
        return False
    runner = RUNNERS.get(message["kind"])
    if runner is None:
        log.warning("unsupported job kind; dropped", extra={"fields": {"kind": message["kind"]}})
        return False
    runner(message)
    return True
