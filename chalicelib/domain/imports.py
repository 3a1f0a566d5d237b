"""What one CSV row does to the domain (API.md §7), decided without AWS.

Keyed by email. `Enabled` TRUE activates a deactivated user and creates an absent one (invited:
only the user can set a password); FALSE deactivates a user who is not deactivated and never
creates one; blank leaves the state alone (an absent user is created, invited). `mode: skip`
leaves an existing user's fields alone, `update` overwrites them with the row's non-empty values.

Every plan that does not create or update says why in words for the report's `reason` column
(API.md §7): "Enabled is FALSE, which never creates a user", "exists; mode is skip", "already
deactivated"...; a refused row's reason is its error's message.
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


NEVER_CREATES = "Enabled is FALSE, which never creates a user"

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
    reason: str = ""  # why, in words, for a row that neither creates nor updates

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
        reason = f"Enabled is TRUE and the user was deactivated; now {status.value}"
        return RowPlan(Outcome.ACTIVATED, existing, replace(after, status=status), reason=reason)
    if record.enabled is False and existing.status is not UserStatus.DEACTIVATED:
        if requested_by is not None and existing.email == requested_by:
            return _refused(existing, "cannot_deactivate_self", "You cannot deactivate yourself.")
        reason = f"Enabled is FALSE and the user was {existing.status.value}"
        return RowPlan(
            Outcome.DEACTIVATED, existing, replace(after, status=UserStatus.DEACTIVATED), reason=reason
        )
    if after != existing:
        return RowPlan(Outcome.UPDATED, existing, after)
    return RowPlan(Outcome.SKIPPED, existing, existing, reason=_unchanged(record, mode))


def _unchanged(record: UserRecord, mode: ImportMode) -> str:
    """Why a row of an existing user changed nothing."""
    skip = mode is ImportMode.SKIP
    if record.enabled is False:
        return "already deactivated; mode is skip" if skip else "already deactivated"
    return "exists; mode is skip" if skip else "exists; the row changes none of its fields"


def _plan_new(record: UserRecord, new_id: str, domain: str, now: datetime) -> RowPlan:
    if record.enabled is False:  # FALSE never creates a user
        return RowPlan(Outcome.SKIPPED, None, None, reason=NEVER_CREATES)
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
    return RowPlan(Outcome.FAILED, user, None, (code, message), reason=message)


def seat_error(used: int, total: int) -> tuple[str, str]:
    """A row refused for want of a seat: `used` counts the seats this import took so far."""
    return "seat_limit_reached", f"No seat left ({used} of {total} used); free one or buy more."


def seat_refused(plan: RowPlan, used: int, total: int) -> RowPlan:
    error = seat_error(used, total)
    return RowPlan(Outcome.FAILED, plan.before, None, error, reason=error[1])
