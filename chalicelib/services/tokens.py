"""Bearer tokens: `<domain>.<user id>.<secret>`, the secret being 32 random bytes (base64url).

The domain and user id in the clear let the request path fetch token, user and domain in one
BatchGetItem; only SHA-256 of the whole string is stored, so a token cannot be rebuilt from the
table and editing its clear part gives a hash that matches nothing."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from chalicelib.core import ids
from chalicelib.domain.rules import DOMAIN_NAME

SECRET_BYTES = 32


@dataclass(frozen=True)
class ParsedToken:
    domain: str
    user_id: str
    token_hash: str


def new_token(domain: str, user_id: str) -> str:
    return f"{domain}.{user_id}.{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_token(token: str) -> ParsedToken | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    domain, user_id, secret = parts
    if not DOMAIN_NAME.match(domain) or not ids.is_id(user_id) or len(secret) < 40:
        return None
    return ParsedToken(domain=domain, user_id=user_id, token_hash=hash_token(token))
