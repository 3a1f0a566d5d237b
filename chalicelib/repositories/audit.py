"""The audit log of a domain: one partition, sort key = time + id, read newest first.

Entries are never rewritten nor removed with their actor or target, so the log still names a user
after that user is deleted."""

from __future__ import annotations

from typing import Any

from chalicelib.core import ids
from chalicelib.core.clock import iso_ms
from chalicelib.core.cursors import Key
from chalicelib.domain.models import AuditEntry
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Item, Table
from chalicelib.repositories.timestamps import parse_ms


class AuditRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def append_op(self, domain: str, entry: AuditEntry) -> dict[str, Any]:
        return self._table.put_op(self.to_item(domain, entry), ITEM_IS_NEW)

    def append(self, domain: str, entry: AuditEntry) -> None:
        self._table.put(self.to_item(domain, entry), ITEM_IS_NEW)

    def list(self, domain: str, limit: int, start_key: Key | None) -> tuple[list[AuditEntry], Key | None]:
        page = self._table.query(keys.audit_pk(domain), newest_first=True, limit=limit, start_key=start_key)
        return [self.from_item(i) for i in page.items], page.last_key

    @staticmethod
    def to_item(domain: str, entry: AuditEntry) -> Item:
        entry_id = entry.id or ids.new_id()
        return {
            "pk": keys.audit_pk(domain),
            "sk": keys.audit_sk(iso_ms(entry.at), entry_id),
            "type": "audit",
            "id": entry_id,
            "at": iso_ms(entry.at),
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "details": entry.details,
        }

    @staticmethod
    def from_item(item: Item) -> AuditEntry:
        return AuditEntry(
            id=item["id"],
            at=parse_ms(item["at"]),
            actor=item["actor"],
            action=item["action"],
            target=item["target"],
            details=item.get("details") or {},
        )
