"""Opaque pagination cursors, bound to the list and the filters they came from.

A cursor is DynamoDB's LastEvaluatedKey (base64url JSON) and an HMAC-SHA256 tag over it and the
list's *scope*: a string the call site builds from the list's name, the caller's domain (and user,
for a per-user list) and every filter that shapes the query (`cursor_scope` builds one). On the
way back in, the tag must match the scope of the request that presents it, so a cursor forged,
tampered with, or taken to another list or other filters answers 400 `invalid_cursor` before its
key reaches DynamoDB (which answers a ValidationException, a 500, for a start key outside the
query's key condition). The key must still be a whole key of the partition the query reads (the
partition is rebuilt from the caller's domain, never taken from the cursor): a second line of
defence should the HMAC key leak.

The HMAC key comes from configuration: OC_CURSOR_KEY, or the SSM SecureString named by
OC_CURSOR_KEY_SSM_PARAM, read once per container. Without one, no cursor is handed out or
accepted (a 500 and a logged error): a list never pages with an unsigned cursor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
from typing import Any

from chalicelib.core.config import get_settings
from chalicelib.core.errors import InvalidField

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = ("ssm:GetParameter",)

Key = dict[str, dict[str, str]]

MIN_KEY_LENGTH = 16
_TAG_CHARS = 43  # base64url of 32 bytes, unpadded
_CONTEXT = b"office-chat/cursor/v1"


class CursorKeyMissing(RuntimeError):
    """No cursor key is configured (or it is too short): a deployment error, never a caller's."""


def cursor_scope(list_name: str, *parts: object, **filters: object) -> str:
    """An unambiguous scope: the list's name, its owners (domain, user) and its filters by name.
    Values are JSON-encoded, so no filter value can pass for another filter or another list."""
    return json.dumps([list_name, list(parts), sorted(filters.items())], separators=(",", ":"), default=str)


def encode_cursor(last_key: Key | None, *, scope: str) -> str | None:
    if not last_key:
        return None
    payload = _b64(json.dumps(last_key, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_b64(_tag(scope, payload))}"


def decode_cursor(cursor: str | None, partition_attr: str, partition: str, *, scope: str) -> Key | None:
    if cursor is None or cursor == "":
        return None
    payload, dot, tag = cursor.rpartition(".")
    if not dot or len(tag) != _TAG_CHARS or not payload.isascii() or not tag.isascii():
        raise _invalid()
    # The tag's text is compared, not its bytes: base64 has several spellings of the same bytes.
    if not hmac.compare_digest(tag.encode(), _b64(_tag(scope, payload)).encode()):
        raise _invalid()
    try:
        key: Any = json.loads(_unb64(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid() from None
    if not _is_key(key, _key_attributes(partition_attr)) or key.get(partition_attr) != {"S": partition}:
        raise _invalid()
    return key  # type: ignore[no-any-return]


def _tag(scope: str, payload: str) -> bytes:
    scope_bytes = scope.encode("utf-8", "surrogatepass")
    message = b"%s\n%d:%s\n%s" % (_CONTEXT, len(scope_bytes), scope_bytes, payload.encode())
    return hmac.new(app_key(), message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())


_ssm_cache: dict[str, str] = {}
_ssm_lock = threading.Lock()


def app_key() -> bytes:
    """The app's HMAC key (cursors; core/signing.py derives its own keys from it): OC_CURSOR_KEY,
    else the SSM SecureString OC_CURSOR_KEY_SSM_PARAM (read once per container)."""
    settings = get_settings()
    key = settings.cursor_key
    if not key and settings.cursor_key_ssm_param:
        name = settings.cursor_key_ssm_param
        with _ssm_lock:
            if name not in _ssm_cache:
                from chalicelib.core import aws

                answer = aws.ssm().get_parameter(Name=name, WithDecryption=True)
                _ssm_cache[name] = answer["Parameter"]["Value"]
            key = _ssm_cache[name]
    if not key or len(key) < MIN_KEY_LENGTH:
        raise CursorKeyMissing(
            f"no cursor key of {MIN_KEY_LENGTH}+ characters is configured: "
            "set OC_CURSOR_KEY or OC_CURSOR_KEY_SSM_PARAM"
        )
    return key.encode()


def _key_attributes(partition_attr: str) -> set[str]:
    """The attributes of a LastEvaluatedKey: the table's keys, plus the index's for an index."""
    if partition_attr == "pk":
        return {"pk", "sk"}
    index = partition_attr.removesuffix("pk")
    return {"pk", "sk", f"{index}pk", f"{index}sk"}


def _is_key(key: Any, attributes: set[str]) -> bool:
    """Exactly the key attributes of the table (or index), each a non-empty string within
    DynamoDB's key sizes (sort keys 1 024 bytes, partition keys 2 048)."""
    if not isinstance(key, dict) or set(key) != attributes:
        return False
    for name, value in key.items():
        if not (isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)):
            return False
        limit = 2048 if name.endswith("pk") else 1024
        try:
            size = len(value["S"].encode())
        except UnicodeEncodeError:
            return False
        if not 0 < size <= limit:
            return False
    return True


def _invalid() -> InvalidField:
    return InvalidField("cursor", "is not a cursor this list handed out", code="invalid_cursor")
