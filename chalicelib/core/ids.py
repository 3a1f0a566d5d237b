"""Server-chosen ids: 26 characters, Crockford base32, sortable by creation time (ULID layout:
48 bits of milliseconds then 80 random bits), so items keyed by id also sort by age."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(now_ms: int | None = None) -> str:
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode((millis << 80) | secrets.randbits(80))


def derived_id(seed: str, at_ms: int) -> str:
    """An id in the same layout whose 80 "random" bits come from `seed`: the same seed gives the
    same id, so work done again after a crash writes the same items (imports)."""
    import hashlib

    return _encode((at_ms << 80) | int.from_bytes(hashlib.sha256(seed.encode()).digest()[:10], "big"))


def _encode(value: int) -> str:
    """128 bits as 26 Crockford base32 characters, most significant first."""
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def is_id(value: str) -> bool:
    return len(value) == 26 and all(c in _ALPHABET for c in value)
