"""Opaque pagination cursors: DynamoDB's LastEvaluatedKey, base64url-encoded JSON.

A cursor is checked on the way back in: it must decode to a key of the same partition the query
reads (the partition is rebuilt from the caller's domain, never taken from the cursor), so a
forged cursor cannot reach another tenant's items; anything else is a 400 `invalid_cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.core.errors import InvalidField

Key = dict[str, dict[str, str]]


def encode_cursor(last_key: Key | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, partition_attr: str, partition: str) -> Key | None:
    if cursor is None or cursor == "":
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid() from None
    if not _is_key(key, _key_attributes(partition_attr)) or key.get(partition_attr) != {"S": partition}:
        raise _invalid()
    return key  # type: ignore[no-any-return]


def _key_attributes(partition_attr: str) -> set[str]:
    """The attributes of a LastEvaluatedKey: the table's keys, plus the index's for an index."""
    if partition_attr == "pk":
        return {"pk", "sk"}
    index = partition_attr.removesuffix("pk")
    return {"pk", "sk", f"{index}pk", f"{index}sk"}


def _is_key(key: Any, attributes: set[str]) -> bool:
    """Exactly the key attributes of the table (or index), each a non-empty string."""
    if not isinstance(key, dict) or set(key) != attributes:
        return False
    return all(
        isinstance(value, dict)
        and set(value) == {"S"}
        and isinstance(value["S"], str)
        and 0 < len(value["S"]) <= 2048
        for value in key.values()
    )


def _invalid() -> InvalidField:
    return InvalidField("cursor", "is not a cursor this list handed out", code="invalid_cursor")
