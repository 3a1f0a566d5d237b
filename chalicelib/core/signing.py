"""Signed, expiring tokens and derived secrets, from the app's HMAC key (core/cursors.py).

Each use has its own key, derived from the app's key and a purpose label, so that a value signed
for one purpose (an OAuth `state`) never verifies as another (a cursor), and no derived secret
reveals the key. A signed token is `<base64url JSON payload>.<base64url HMAC-SHA256 tag>`: it
carries its expiry and proves it came from us; it is not encrypted, so it holds only ids.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from chalicelib.core.cursors import app_key

_TAG_BYTES = 32
MAX_TOKEN_CHARS = 2048


class BadSignedToken(ValueError):
    """A token that is malformed, forged, signed for another purpose, or expired."""


def purpose_key(purpose: str) -> bytes:
    return hmac.new(app_key(), f"office-chat/{purpose}/v1".encode(), hashlib.sha256).digest()


def sign(purpose: str, payload: dict[str, Any], expires_at: datetime) -> str:
    body = _b64(json.dumps({**payload, "exp": int(expires_at.timestamp())}, separators=(",", ":")).encode())
    return f"{body}.{_b64(_tag(purpose, body))}"


def verify(purpose: str, token: str, now: datetime) -> dict[str, Any]:
    """The payload of a token we signed for `purpose` that has not expired, else BadSignedToken
    (whose message says which, for the page that explains it)."""
    body, _, tag = token.partition(".")
    if not body or not tag or len(token) > MAX_TOKEN_CHARS:
        raise BadSignedToken("malformed")
    try:
        valid = hmac.compare_digest(_unb64(tag), _tag(purpose, body))
        payload = json.loads(_unb64(body)) if valid else None
    except (binascii.Error, ValueError):
        raise BadSignedToken("malformed") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise BadSignedToken("forged")
    if payload["exp"] <= now.timestamp():
        raise BadSignedToken("expired")
    return payload


def derived_secret(purpose: str, *parts: str) -> str:
    """A secret (256 bits, base64url) that only the holder of the app's key can compute from
    `parts`: stored data alone (the parts) does not give it away, and it need not be stored."""
    message = "\x1f".join(parts).encode()
    return _b64(hmac.new(purpose_key(purpose), message, hashlib.sha256).digest())


def _tag(purpose: str, body: str) -> bytes:
    return hmac.new(purpose_key(purpose), body.encode(), hashlib.sha256).digest()[:_TAG_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
