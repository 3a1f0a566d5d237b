"""Bearer tokens: `<domain>.<user id>.<secret>`, or `<domain>.<user id>.<device>.<secret>` for a
token bound to a mobile device (the device's own id, base64url), the secret being 32 random
bytes (base64url).

The clear part lets the request path fetch token, user, domain (and device) in one BatchGetItem;
only SHA-256 of the whole string is stored, so a token cannot be rebuilt from the table and
editing its clear part gives a hash that matches nothing."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from chalicelib.core import ids
from chalicelib.domain.device_ids import decode_device_id, encode_device_id
from chalicelib.domain.rules import DOMAIN_NAME

SECRET_BYTES = 32


@dataclass(frozen=True)
class ParsedToken:
    domain: str
    user_id: str
    token_hash: str
    device_id: str | None = None


def new_token(domain: str, user_id: str, device_id: str | None = None) -> str:
    device = f"{encode_device_id(device_id)}." if device_id is not None else ""
    return f"{domain}.{user_id}.{device}{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_token(token: str) -> ParsedToken | None:
    parts = token.split(".")
    if len(parts) not in (3, 4):
        return None
    domain, user_id, secret = parts[0], parts[1], parts[-1]
    if not DOMAIN_NAME.match(domain) or not ids.is_id(user_id) or len(secret) < 40:
        return None
    device_id = decode_device_id(parts[2]) if len(parts) == 4 else None
    if len(parts) == 4 and not device_id:
        return None
    return ParsedToken(domain=domain, user_id=user_id, token_hash=hash_token(token), device_id=device_id)
