"""How the product's objects look on the wire (the contract's JSON shapes)."""

from __future__ import annotations

from typing import Any

from chalicelib.core.clock import iso
from chalicelib.domain.models import AuditEntry, Domain, Group, User


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "title": user.title,
        "phone": user.phone,
        "department": user.department,
        "role": user.role.value,
        "status": user.status.value,
        "auth_provider": user.auth_provider.value,
        "two_factor": {"method": user.two_factor_method, "enrolled": user.two_factor_enrolled},
        "created_at": iso(user.created_at),
    }


def domain_view(domain: Domain) -> dict[str, Any]:
    return {
        "domain": domain.name,
        "plan": domain.plan.value,
        "billing": domain.billing.value,
        "seats": {"used": domain.seats_used, "total": domain.seats_total},
        "hipaa": domain.hipaa,
        "retention_days": domain.retention_days,
        "status": domain.status.value,
        "created_at": iso(domain.created_at),
    }


def group_summary(group: Group) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "default": group.is_default}


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
    }


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
