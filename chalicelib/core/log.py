"""Structured logs: one JSON object a line, carrying the correlation key of the work at hand
(an API request id, an SQS message id, an S3 key) so that every line of one request can be found.

Each unit of work (an HTTP request, an SQS record) also ends with one summary line (`work()`):
what it was, for which domain, how it ended, how long it took and the AWS calls it made, counted
by a botocore `before-call` hook that core/aws.py puts on every client (`count_aws_call`).

The formatter is the last line of defence against secrets in logs: a field whose name says it
holds a secret (token, password, secret, authorization, signature, a code that is not an error
code) is written as `[redacted]`, and so are presigned URLs' signatures and bearer tokens inside
any text."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, ParamSpec, TypeVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

REDACTED = "[redacted]"
# Field names that hold a secret wherever they appear (compared lowercased, as substrings).
_SECRET_NAMES = ("token", "password", "passwd", "secret", "authorization", "signature", "cookie", "otp")
# A `code` field is an error code (`invalid_code`, `object_replaced`) or a secret (a 2FA code,
# an OAuth code, a recovery code): only the former looks like a snake_case identifier.
_CODE_NAMES = ("code", "codes")
_ERROR_CODE = re.compile(r"[a-z][a-z_]*\Z")
_SECRET_TEXT = re.compile(
    r"(?i)(X-Amz-(?:Signature|Security-Token)=|\bSignature=|\bBearer\s+|"
    r"[?&][\w-]*(?:token|code|state|secret)=|/hooks/[a-z]+/(?!events\b|\{))[^\s&\"'/]+"
)


def redact_text(text: str) -> str:
    """`text` without the secrets a URL or a header may carry: presigned signatures and session
    tokens, bearer tokens, query tokens and codes, and webhook URLs' secrets."""
    return _SECRET_TEXT.sub(lambda match: match.group(1) + REDACTED, text)


def redact(value: Any, name: str = "") -> Any:
    """A log field's value as it may be written: secrets named by their field, or in text."""
    lowered = name.lower()
    if isinstance(value, str | bytes | dict | list | tuple) and _names_secret(lowered, value):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _names_secret(name: str, value: object) -> bool:
    if any(part in name for part in _SECRET_NAMES):
        return True
    if name in _CODE_NAMES or name.endswith(("_code", "_codes")):
        return name != "status_code" and not (isinstance(value, str) and _ERROR_CODE.match(value))
    return False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        current = correlation_id.get()
        if current:
            entry["correlation_id"] = current
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(redact(extra))
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class _Work:
    """What one request or event has done so far: its log fields and its AWS calls."""

    def __init__(self, fields: dict[str, object]) -> None:
        self.fields = fields
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()  # threads that copied the context count into the same one


_work: ContextVar[_Work | None] = ContextVar("work", default=None)
_work_log = logging.getLogger("chalicelib.work")


@contextmanager
def work(message: str, **fields: object) -> Iterator[dict[str, object]]:
    """Runs one unit of work and then logs its one summary line: `fields`, what `annotate`
    added meanwhile, `duration_ms` and `aws_calls` (`{"dynamodb.BatchGetItem": 1}`). The caller
    may fill the yielded dict (status, outcome) before the block ends; an exception leaving the
    block is logged as `outcome: "error"` and raised again."""
    current = _Work(dict(fields))
    token = _work.set(current)
    started = time.perf_counter()
    try:
        yield current.fields
    except BaseException as error:
        current.fields.setdefault("outcome", "error")
        current.fields.setdefault("error", type(error).__name__)
        raise
    finally:
        _work.reset(token)
        with current.lock:
            calls = dict(sorted(current.calls.items()))
        summary = {
            **current.fields,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "aws_calls": calls,
            "aws_call_count": sum(calls.values()),
        }
        _work_log.info(message, extra={"fields": summary})


def annotate(**fields: object) -> None:
    """Adds fields (the domain, once known) to the summary line of the work at hand, if any."""
    current = _work.get()
    if current is not None:
        current.fields.update(fields)


def count_aws_call(model: Any = None, **_: Any) -> None:
    """botocore's `before-call` handler (registered on every client by core/aws.py): one call
    of `service.Operation` for the work at hand. Must not raise, nor return a value (a value
    would stand in for the call's answer)."""
    current = _work.get()
    if current is None or model is None:
        return
    name = f"{model.service_model.service_name}.{model.name}"
    with current.lock:
        current.calls[name] += 1


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


_P = ParamSpec("_P")
_R = TypeVar("_R")


def carried(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """`function`, to run on a pool's threads within the caller's context (each call in its own
    copy of it): the request's or event's AWS call counter and correlation id go along."""
    parent = copy_context()

    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return parent.copy().run(function, *args, **kwargs)

    return run
