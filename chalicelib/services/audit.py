"""Reading the audit log (writing happens inside each action's own transaction or call)."""

from __future__ import annotations

from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.domain.models import AuditEntry
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository


class AuditService:
    def __init__(self, audit: AuditRepository) -> None:
        self._audit = audit

    def list(self, domain: str, limit: int, cursor: str | None) -> tuple[list[AuditEntry], str | None]:
        scope = cursor_scope("admin_audit", domain)
        start_key = decode_cursor(cursor, "pk", keys.audit_pk(domain), scope=scope)
        entries, last_key = self._audit.list(domain, limit, start_key)
        return entries, encode_cursor(last_key, scope=scope)
