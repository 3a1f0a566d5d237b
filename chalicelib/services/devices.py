"""§3 Devices: the app's heartbeat and wipe confirmation, and the admin's device page (list,
disable, enable, wipe). Every admin action is idempotent (the same state answers 200 and writes
nothing) and audited; a device with a wipe pending is never deleted nor forgotten."""

from __future__ import annotations

from chalicelib.core.clock import Clock
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.domain import devices as rules
from chalicelib.domain.devices import Device, DeviceStatus
from chalicelib.domain.models import AuditEntry, Principal
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.devices import DeviceRepository, device_admin_id, parse_device_admin_id
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.sessions import SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.transaction import Transaction

ADMIN_ACTIONS = {"disable": rules.disable, "enable": rules.enable, "wipe": rules.request_wipe}
AUDITED_AS = {"disable": "device.disabled", "enable": "device.enabled", "wipe": "device.wipe_requested"}


def _changed() -> Conflict:
    return Conflict("This device changed at the same moment; read it again and retry.", "concurrent_change")


def device_not_found() -> NotFound:
    return NotFound("There is no such device in this domain.", "device_not_found")


class DeviceService:
    def __init__(
        self,
        table: Table,
        devices: DeviceRepository,
        sessions: SessionRepository,
        users: UserRepository,
        index: UserIndexRepository,
        audit: AuditRepository,
        clock: Clock,
    ) -> None:
        self._table = table
        self._devices = devices
        self._sessions = sessions
        self._users = users
        self._index = index
        self._audit = audit
        self._clock = clock

    # --- the app -----------------------------------------------------------------------------------

    def current(self, principal: Principal) -> Device:
        device: Device | None = principal.device
        if device is None:
            raise NotFound("This token is not bound to a device (sign in from the app).", "device_not_found")
        return device

    def confirm_wiped(self, principal: Principal) -> Device:
        """The app erased the network's content: the device is `wiped`, its tokens die."""
        device = self.current(principal)
        wiped = rules.confirm_wiped(device)
        if wiped != device:
            entry = AuditEntry(
                at=self._clock.now(),
                actor=principal.user.email,
                action="device.wiped",
                target=f"device:{device_admin_id(device)}",
                details={"device_id": device.device_id, "ordered": device.wipe is rules.Wipe.PENDING},
            )
            tx = Transaction(self._table)
            tx.add(self._devices.put_op(wiped, device), on_condition_failed=_changed())
            tx.add(self._audit.append_op(principal.domain, entry))
            tx.commit()
        self._sessions.delete_all_of_device(device.domain, device.user_id, device.device_id)
        return wiped

    # --- the admin ---------------------------------------------------------------------------------

    def get(self, principal: Principal, admin_id: str) -> Device:
        parsed = parse_device_admin_id(admin_id)
        device = self._devices.get(principal.domain, *parsed) if parsed else None
        if device is None:
            raise device_not_found()
        return device

    def act(self, principal: Principal, admin_id: str, action: str) -> Device:
        device = self.get(principal, admin_id)
        changed = ADMIN_ACTIONS[action](device)
        if changed == device:
            return device
        entry = AuditEntry(
            at=self._clock.now(),
            actor=principal.user.email,
            action=AUDITED_AS[action],
            target=f"device:{admin_id}",
            details={
                "user_email": device.user_email,
                "device_id": device.device_id,
                "status": changed.status.value,
            },
        )
        tx = Transaction(self._table)
        tx.add(self._devices.put_op(changed, device), on_condition_failed=_changed())
        tx.add(self._audit.append_op(principal.domain, entry))
        tx.commit()
        return changed

    def of_user(self, principal: Principal, user_id: str) -> list[Device]:
        user = self._users.get(principal.domain, user_id)
        if user is None or user.deletion_requested:
            raise NotFound("There is no such user in this domain.", "user_not_found")
        return self._devices.of_user(principal.domain, user_id)

    def search(
        self, principal: Principal, query: str, status: DeviceStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Device], str | None]:
        """Without `q`: the domain's devices by user name (GSI2). With `q`: the devices of the
        users whose first name, last name or email starts with it (the user search index), a
        page holding the devices of up to `limit` users."""
        prefix = query.strip().lower()
        # status filters the page after the read, but a page's size depends on it: it is bound too.
        scope = cursor_scope(
            "admin_devices", principal.domain, q=prefix, status=status.value if status else None
        )
        if prefix:
            start = decode_cursor(cursor, "pk", keys.user_search_pk(principal.domain), scope=scope)
            user_ids, last = self._index.search(principal.domain, prefix, None, limit, start)
            found = [d for uid in user_ids for d in self._devices.of_user(principal.domain, uid)]
        else:
            start = decode_cursor(cursor, "gsi2pk", keys.domain_devices_gsi2pk(principal.domain), scope=scope)
            found, last = self._devices.of_domain(principal.domain, limit, start)
        if status is not None:
            found = [d for d in found if d.status is status]
        return found, encode_cursor(last, scope=scope)


def admin_id(device: Device) -> str:
    return device_admin_id(device)
