"""Mobile devices: one item per (user, app install) in the user's partition,
`D#<d>#U#<user>` / `DEVICE#<device_id>`, so that a device-bound token (which names its domain, user
and device) fetches the device in the same BatchGetItem as its token, user and domain.

GSI2 lists a domain's devices by user name (`D#<d>#DEVICES` / `<name>#<user>#<device>`). The id
the admin pages use is `<user id>-<device id, base64url>`: it names the item's key, no lookup."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.device_ids import device_admin_id, parse_device_admin_id
from chalicelib.domain.devices import Device, DeviceInfo, Wipe
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, ConditionFailed, Item, Table
from chalicelib.repositories.timestamps import parse_ms

# The admin id's helpers live in domain/ (the API shows the id too); they stay importable from
# here, where the services that look devices up by it have always found them.
__all__ = ["DEVICE_PREFIX", "DeviceRepository", "device_admin_id", "parse_device_admin_id"]

DEVICE_PREFIX = "DEVICE#"


class DeviceRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(domain: str, user_id: str, device_id: str) -> tuple[str, str]:
        return keys.user_pk(domain, user_id), f"{DEVICE_PREFIX}{device_id}"

    def get(self, domain: str, user_id: str, device_id: str) -> Device | None:
        item = self._table.get(*self.key(domain, user_id, device_id))
        return self.from_item(item) if item else None

    def put_op(self, device: Device, read: Device | None) -> dict[str, Any]:
        """Writes the device if its state is still the one read (`read` None: if it is new), so
        an admin's disable or wipe and an app's login or confirmation never overwrite each other."""
        if read is None:
            return self._table.put_op(self.to_item(device), ITEM_IS_NEW)
        condition = Condition(
            "epoch = :epoch AND disabled = :disabled AND wipe = :wipe",
            {":epoch": read.epoch, ":disabled": read.disabled, ":wipe": read.wipe.value},
        )
        return self._table.put_op(self.to_item(device), condition)

    def touch(self, device: Device, now: datetime, cutoff: datetime) -> None:
        """last_activity = now, unless another request of the same minute wrote it first."""
        with contextlib.suppress(ConditionFailed):
            self._table.update(
                *self.key(device.domain, device.user_id, device.device_id),
                "SET last_activity = :now",
                {":now": iso_ms(now), ":cutoff": iso_ms(cutoff)},
                condition="attribute_exists(pk) AND "
                "(attribute_not_exists(last_activity) OR last_activity < :cutoff)",
            )

    def of_user(self, domain: str, user_id: str) -> list[Device]:
        items = self._table.query_all(keys.user_pk(domain, user_id), sk_prefix=DEVICE_PREFIX)
        return [self.from_item(i) for i in items]

    def of_domain(
        self, domain: str, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[Device], dict[str, Any] | None]:
        page = self._table.query(
            keys.domain_devices_gsi2pk(domain), index="gsi2", limit=limit, start_key=start_key
        )
        return [self.from_item(i) for i in page.items], page.last_key

    @staticmethod
    def to_item(device: Device) -> Item:
        pk, sk = DeviceRepository.key(device.domain, device.user_id, device.device_id)
        return {
            "pk": pk,
            "sk": sk,
            "type": "device",
            "domain": device.domain,
            "user_id": device.user_id,
            "user_name": device.user_name,
            "user_email": device.user_email,
            "device_id": device.device_id,
            "device_type": device.info.type,
            "name": device.info.name,
            "os_version": device.info.os_version,
            "app_version": device.info.app_version,
            "disabled": device.disabled,
            "wipe": device.wipe.value,
            "epoch": device.epoch,
            "last_activity": iso_ms(device.last_activity) if device.last_activity else None,
            "created_at": iso_ms(device.created_at),
            "gsi2pk": keys.domain_devices_gsi2pk(device.domain),
            "gsi2sk": f"{device.user_name.lower()}#{device.user_id}#{device.device_id}",
        }

    @staticmethod
    def from_item(item: Item) -> Device:
        last = item.get("last_activity")
        return Device(
            domain=item["domain"],
            user_id=item["user_id"],
            info=DeviceInfo(
                device_id=item["device_id"],
                type=item.get("device_type", ""),
                name=item.get("name", ""),
                os_version=item.get("os_version", ""),
                app_version=item.get("app_version", ""),
            ),
            created_at=parse_ms(item["created_at"]),
            user_name=item.get("user_name", ""),
            user_email=item.get("user_email", ""),
            disabled=bool(item.get("disabled", False)),
            wipe=Wipe(item.get("wipe", "none")),
            epoch=int(item.get("epoch", 0)),
            last_activity=parse_ms(last) if last else None,
        )
