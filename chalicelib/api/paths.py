"""Path parameters, checked for their format before anything builds a key of them (API.md §0: ids
are the server's 26-character ids, a device's admin id is `<user id>-<base64url device id>`, a
domain name matches `^[a-z0-9][a-z0-9-]{1,62}$`). An id of another shape cannot name anything:
it answers the route's own 404 — never a key DynamoDB refuses for its size (a 500).

Called by a view after its authentication decorator (401 and 403 come first, as the contract
orders the checks). Most services check ids themselves too; this is the one place that holds
for every route."""

from __future__ import annotations

from chalicelib.core import ids
from chalicelib.core.errors import NotFound
from chalicelib.domain import rules
from chalicelib.domain.device_ids import parse_device_admin_id

MAX_DEVICE_ID = 128  # POST /auth/login's device.device_id (api/auth.py), in characters
# <user id>-<base64url of at most 128 characters, 4 UTF-8 bytes each: 512 bytes, 683 characters>
MAX_DEVICE_ADMIN_ID = 26 + 1 + 683


def user_id(value: str) -> str:
    if not ids.is_id(value):
        raise NotFound("There is no such user in this domain.", "user_not_found")
    return value


def device_admin_id(value: str) -> str:
    parsed = parse_device_admin_id(value) if len(value) <= MAX_DEVICE_ADMIN_ID else None
    if parsed is None or not 0 < len(parsed[1]) <= MAX_DEVICE_ID:
        raise NotFound("There is no such device in this domain.", "device_not_found")
    return value


def domain_name(value: str) -> str:
    if not rules.DOMAIN_NAME.fullmatch(value):
        raise NotFound("There is no such domain.", "domain_not_found")
    return value
