"""CloudWatch metrics in the Embedded Metric Format: one JSON log line per emission, which
CloudWatch Logs turns into metrics of the namespace `OfficeChat` without an API call.

The line goes through the logger `chalicelib.metrics` at INFO, so the JSON formatter writes it
(in Lambda, one JSON object a line: the EMF's shape) and the log level decides as for any other
line: unit tests, which install no handler, print nothing. Dimensions are few and bounded (the
stage, and an outcome or a job kind): every distinct combination is a metric billed monthly, so
a domain is a property of the line, searchable with Logs Insights, never a dimension.

    count("Logins", outcome="failed", domain="acme")
    rows_per_second("Import", 500, 0.61, domain="acme")  # ImportRows and ImportRowsPerSecond
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from chalicelib.core.config import get_settings

NAMESPACE = "OfficeChat"
COUNT = "Count"
PER_SECOND = "Count/Second"
MILLISECONDS = "Milliseconds"

_log = logging.getLogger("chalicelib.metrics")


def count(name: str, value: float = 1, **fields: str) -> None:
    """One count of `name`; see `emit` for `fields`."""
    emit({name: (value, COUNT)}, **fields)


def rows_per_second(prefix: str, rows: int, seconds: float, **fields: str) -> None:
    """The rows one step handled (`<prefix>Rows`) and its pace (`<prefix>RowsPerSecond`)."""
    pace = rows / seconds if seconds > 0 else 0.0
    emit({f"{prefix}Rows": (rows, COUNT), f"{prefix}RowsPerSecond": (round(pace, 1), PER_SECOND)}, **fields)


def emit(values: Mapping[str, tuple[float, str]], *, domain: str | None = None, **dimensions: str) -> None:
    """Metrics `{name: (value, unit)}` in one EMF line, with the stage and `dimensions`
    (`outcome="failed"` becomes the dimension `Outcome`, `job_kind` becomes `JobKind`) and the
    domain as a plain property."""
    if not _log.isEnabledFor(logging.INFO):
        return
    named = {"Stage": get_settings().stage}
    named.update({_dimension_name(key): str(value) for key, value in dimensions.items()})
    line = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(named)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in values.items()],
                }
            ],
        },
        **named,
        **{name: value for name, (value, _) in values.items()},
    }
    if domain is not None:
        line["domain"] = domain
    _log.info("metrics", extra={"fields": line})


def _dimension_name(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))
