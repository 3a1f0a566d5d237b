"""How the product's objects look on the wire (the contract's JSON shapes)."""

from __future__ import annotations

from typing import Any

from chalicelib.core.clock import iso
from chalicelib.domain.models import AuditEntry, Domain, Group, User
from chalicelib.repositories.jobs import Job
from chalicelib.services.auth import LoginResult


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


def admin_group_view(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "default": group.is_default,
        "created_by": group.created_by,
        "created_at": iso(group.created_at),
    }


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
    }


def login_view(result: LoginResult) -> dict[str, Any]:
    """The answer of a successful sign-in (login, accepted invitation)."""
    return {
        "status": "ok",
        "token": result.token,
        "expires_at": iso(result.session.expires_at),
        "user": user_view(result.user),
    }


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": {"done": job.done, "total": job.total},
        "result": job.result,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
