"""What one CSV row does to the domain (API.md §7), decided without AWS.

Keyed by email. `Enabled` TRUE activates a deactivated user and creates an absent one (invited:
only the user can set a password); FALSE deactivates a user who is not deactivated and never
creates one; blank leaves the state alone (an absent user is created, invited). `mode: skip`
leaves an existing user's fields alone, `update` overwrites them with the row's non-empty values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.models import Role, User, UserStatus
from chalicelib.domain.user_csv import Field, UserRecord


class ImportMode(StrEnum):
    SKIP = "skip"
    UPDATE = "update"


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    ACTIVATED = "activated"
    DEACTIVATED = "deactivated"
    FAILED = "failed"


_FIELDS = {
    Field.FIRST_NAME: "first_name",
    Field.LAST_NAME: "last_name",
    Field.TITLE: "title",
    Field.PHONE: "phone",
    Field.DEPARTMENT: "department",
}


@dataclass(frozen=True)
class RowPlan:
    """What a row does: the outcome, and the user before and after (None when nothing exists)."""

    outcome: Outcome
    before: User | None
    after: User | None
    error: tuple[str, str] | None = None  # (code, message) of a row refused by the rules

    @property
    def takes_seat(self) -> bool:
        return self.outcome in (Outcome.CREATED, Outcome.ACTIVATED)


def plan_row(
    record: UserRecord,
    existing: User | None,
    has_password: bool,
    mode: ImportMode,
    new_id: str,
    domain: str,
    now: datetime,
    requested_by: str | None,
) -> RowPlan:
    if existing is None:
        return _plan_new(record, new_id, domain, now)
    if existing.deletion_requested:
        return _refused(existing, "user_being_deleted", "This user is being deleted.")
    after = _with_fields(existing, record) if mode is ImportMode.UPDATE else existing
    if record.enabled is True and existing.status is UserStatus.DEACTIVATED:
        status = UserStatus.ACTIVE if has_password else UserStatus.INVITED
        return RowPlan(Outcome.ACTIVATED, existing, replace(after, status=status))
    if record.enabled is False and existing.status is not UserStatus.DEACTIVATED:
        if requested_by is not None and existing.email == requested_by:
            return _refused(existing, "cannot_deactivate_self", "You cannot deactivate yourself.")
        return RowPlan(Outcome.DEACTIVATED, existing, replace(after, status=UserStatus.DEACTIVATED))
    if after != existing:
        return RowPlan(Outcome.UPDATED, existing, after)
    return RowPlan(Outcome.SKIPPED, existing, existing)


def _plan_new(record: UserRecord, new_id: str, domain: str, now: datetime) -> RowPlan:
    if record.enabled is False:  # FALSE never creates a user
        return RowPlan(Outcome.SKIPPED, None, None)
    values = record.values
    user = User(
        id=new_id,
        domain=domain,
        email=record.email,
        first_name=values.get(Field.FIRST_NAME, ""),
        last_name=values.get(Field.LAST_NAME, ""),
        title=values.get(Field.TITLE, ""),
        phone=values.get(Field.PHONE, ""),
        department=values.get(Field.DEPARTMENT, ""),
        role=record.role or Role.MEMBER,
        status=UserStatus.INVITED,
        created_at=now,
    )
    return RowPlan(Outcome.CREATED, None, user)


def _with_fields(user: User, record: UserRecord) -> User:
    changes: dict[str, object] = {
        attribute: record.values[field] for field, attribute in _FIELDS.items() if record.values.get(field)
    }
    if record.role is not None:
        changes["role"] = record.role
    return replace(user, **changes)  # type: ignore[arg-type]


def _refused(user: User, code: str, message: str) -> RowPlan:
    return RowPlan(Outcome.FAILED, user, None, (code, message))


def seat_refused(plan: RowPlan) -> RowPlan:
    return RowPlan(
        Outcome.FAILED,
        plan.before,
        None,
        ("seat_limit_reached", "Every seat of this domain is taken; free one or buy more."),
    )
