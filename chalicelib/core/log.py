"""Structured logs: one JSON object a line, carrying the correlation key of the work at hand
(an API request id, an SQS message id, an S3 key) so that every line of one request can be found."""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = correlation_id.get()
        if current:
            entry["correlation_id"] = current
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging_in_lambda() -> None:
    """In Lambda, JSON logs from the first line on; elsewhere (the chalice CLI packaging the app,
    tests, the local runner) whoever runs the process decides, so importing app changes nothing."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        configure_logging()


@lru_cache(maxsize=1)
def configure_logging() -> None:
    """Install the JSON formatter once (Lambda's runtime already put a handler on the root)."""
    from chalicelib.core.config import get_settings

    level = get_settings().log_level
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
    # botocore says at INFO where it found credentials, once per client: noise in our logs.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
