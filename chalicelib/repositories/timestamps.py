"""Times are stored as ISO 8601 UTC strings with milliseconds (sortable, readable in the console)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ms(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
