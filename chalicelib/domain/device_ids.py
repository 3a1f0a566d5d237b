"""How a device's own id is written where it must be one plain token: base64url without
padding, in a device-bound bearer token (`<domain>.<user>.<device>.<secret>`) and in the id the
admin pages use (`<user id>-<device id>`), which names the device's item without a lookup.

Pure functions, shared by the services that issue tokens and the repository that keys devices."""

from __future__ import annotations

import base64
import binascii

from chalicelib.core import ids
from chalicelib.domain.devices import Device


def encode_device_id(device_id: str) -> str:
    return base64.urlsafe_b64encode(device_id.encode()).decode().rstrip("=")


def decode_device_id(encoded: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        return None


def device_admin_id(device: Device) -> str:
    return f"{device.user_id}-{encode_device_id(device.device_id)}"


def parse_device_admin_id(admin_id: str) -> tuple[str, str] | None:
    """(user id, device id) of an admin id; None if it cannot be one."""
    user_id, _, encoded = admin_id.partition("-")
    device_id = decode_device_id(encoded) if encoded else None
    if not ids.is_id(user_id) or not device_id:
        return None
    return user_id, device_id
