"""Times are stored as ISO 8601 UTC strings with milliseconds (sortable, readable in the console)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def ttl_of(expires_at: datetime | None) -> int | None:
    """DynamoDB's TTL attribute (epoch seconds) for content that expires; None: kept."""
    return None if expires_at is None else int(expires_at.timestamp())


def expiry_of(item: Mapping[str, Any]) -> datetime | None:
    ttl = item.get("ttl")
    return None if ttl is None else datetime.fromtimestamp(int(ttl), UTC)


def parse_ms(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
