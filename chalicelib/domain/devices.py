"""Mobile devices and their state machine (API.md §3), as pure rules.

A device is two independent facts: `disabled` (an admin cut it off) and `wipe` (none, pending
until the app confirms, done). What callers see is one status, derived: a pending wipe wins over
everything, then a finished wipe, then the disable. `epoch` counts the disables: a token carries
the epoch it was issued in, so a token from before a disable never works again, even after an
enable."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.core.errors import Conflict, Forbidden

ACTIVITY_WRITE_INTERVAL = timedelta(minutes=1)


class DeviceStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    WIPE_PENDING = "wipe_pending"
    WIPED = "wiped"


class Wipe(StrEnum):
    NONE = "none"
    PENDING = "pending"
    DONE = "done"


@dataclass(frozen=True)
class DeviceInfo:
    """What the app says about itself at login."""

    device_id: str
    type: str
    name: str
    os_version: str
    app_version: str


@dataclass(frozen=True)
class Device:
    domain: str
    user_id: str
    info: DeviceInfo
    created_at: datetime
    user_name: str = ""
    user_email: str = ""
    disabled: bool = False
    wipe: Wipe = Wipe.NONE
    epoch: int = 0
    last_activity: datetime | None = None

    @property
    def device_id(self) -> str:
        return self.info.device_id

    @property
    def status(self) -> DeviceStatus:
        if self.wipe is Wipe.PENDING:
            return DeviceStatus.WIPE_PENDING
        if self.wipe is Wipe.DONE:
            return DeviceStatus.WIPED
        return DeviceStatus.DISABLED if self.disabled else DeviceStatus.ACTIVE


def disable(device: Device) -> Device:
    """Idempotent; a new epoch, so every token issued so far is dead for good."""
    if device.disabled:
        return device
    return replace(device, disabled=True, epoch=device.epoch + 1)


def enable(device: Device) -> Device:
    if device.wipe is Wipe.PENDING:
        raise Conflict(
            "A wipe is pending on this device; it can be enabled once the app confirms.", "wipe_pending"
        )
    if device.wipe is Wipe.DONE:
        raise Conflict("This device was wiped; it registers anew at its next login.", "device_wiped")
    return replace(device, disabled=False)


def request_wipe(device: Device) -> Device:
    """Allowed on an active or a disabled device; idempotent while pending."""
    if device.wipe is Wipe.DONE:
        raise Conflict("This device was wiped already; it registers anew at its next login.", "device_wiped")
    return replace(device, wipe=Wipe.PENDING)


def confirm_wiped(device: Device) -> Device:
    """The app erased the network's content: its tokens die (a new epoch)."""
    if device.wipe is Wipe.DONE:
        return device
    return replace(device, wipe=Wipe.DONE, epoch=device.epoch + 1)


def register_login(
    existing: Device | None,
    info: DeviceInfo,
    user_name: str,
    user_email: str,
    domain: str,
    user_id: str,
    now: datetime,
) -> Device:
    """A login from the app: a new device, or the known one updated; a wiped device starts over
    as a fresh, active device. Refuses a disabled device or one that must wipe first."""
    if existing is None or existing.wipe is Wipe.DONE:
        epoch = existing.epoch + 1 if existing else 0
        return Device(
            domain=domain,
            user_id=user_id,
            info=info,
            created_at=now,
            user_name=user_name,
            user_email=user_email,
            epoch=epoch,
            last_activity=now,
        )
    if existing.wipe is Wipe.PENDING:
        raise Forbidden(
            "This device must erase Office Chat's content before signing in again.", "device_wipe_required"
        )
    if existing.disabled:
        raise Forbidden("An administrator disabled this device.", "device_disabled")
    return replace(existing, info=info, user_name=user_name, user_email=user_email, last_activity=now)


def is_new_to_user(existing: Device | None) -> bool:
    """A login registers the device anew: never seen for this user, or wiped since (it starts
    over as a fresh device, and whoever holds it now may not be its owner)."""
    return existing is None or existing.wipe is Wipe.DONE


def new_device_notice(device: Device, greeting: str, at: str) -> tuple[str, str]:
    """The subject and text of the email a user gets when a device new to them signs in
    (API.md §2): which device, when, and what to do if it was not them."""
    info = device.info
    kind, name = _one_line(info.type), _one_line(info.name) or "(no name)"
    subject = "A new device signed in to your Office Chat account"
    text = (
        f"Hello {greeting},\n\n"
        f"A device signed in to your Office Chat account in {device.domain} for the first time:\n\n"
        f"    Device type: {kind}\n"
        f"    Device name: {name}\n"
        f"    Time: {at}\n\n"
        "If this was you, there is nothing to do.\n"
        "If this was not you, tell your administrator: they can disable and wipe the device,"
        " and you should change your password."
    )
    return subject, text


def _one_line(value: str) -> str:
    """What the app says about itself, as one line: a device name cannot write the email's text."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


def needs_activity_write(device: Device, now: datetime) -> bool:
    return device.last_activity is None or now - device.last_activity >= ACTIVITY_WRITE_INTERVAL


def action_for(device: Device) -> str | None:
    """What the app must do now (the heartbeat's `action`)."""
    return "wipe" if device.wipe is Wipe.PENDING else None
