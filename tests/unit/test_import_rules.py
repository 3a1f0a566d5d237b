"""What a CSV row does (domain/imports.py): every Enabled × existing state × mode combination."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain.imports import ImportMode, Outcome, plan_row
from chalicelib.domain.models import Role, User, UserStatus
from chalicelib.domain.user_csv import Field, UserRecord

NOW = datetime(2026, 11, 25, tzinfo=UTC)
EXISTING = User(
    id="u1",
    domain="acme",
    email="pat@acme.example",
    first_name="Pat",
    last_name="Old",
    role=Role.MEMBER,
    status=UserStatus.ACTIVE,
    created_at=NOW,
)

# (state, enabled, mode) -> (outcome, status after; None: no user)
EXPECTED = {
    (None, True, "skip"): (Outcome.CREATED, UserStatus.INVITED),
    (None, True, "update"): (Outcome.CREATED, UserStatus.INVITED),
    (None, None, "skip"): (Outcome.CREATED, UserStatus.INVITED),
    (None, None, "update"): (Outcome.CREATED, UserStatus.INVITED),
    (None, False, "skip"): (Outcome.SKIPPED, None),
    (None, False, "update"): (Outcome.SKIPPED, None),
    ("active", True, "skip"): (Outcome.SKIPPED, UserStatus.ACTIVE),
    ("active", True, "update"): (Outcome.UPDATED, UserStatus.ACTIVE),
    ("active", None, "skip"): (Outcome.SKIPPED, UserStatus.ACTIVE),
    ("active", None, "update"): (Outcome.UPDATED, UserStatus.ACTIVE),
    ("active", False, "skip"): (Outcome.DEACTIVATED, UserStatus.DEACTIVATED),
    ("active", False, "update"): (Outcome.DEACTIVATED, UserStatus.DEACTIVATED),
    ("invited", True, "skip"): (Outcome.SKIPPED, UserStatus.INVITED),
    ("invited", True, "update"): (Outcome.UPDATED, UserStatus.INVITED),
    ("invited", None, "skip"): (Outcome.SKIPPED, UserStatus.INVITED),
    ("invited", None, "update"): (Outcome.UPDATED, UserStatus.INVITED),
    ("invited", False, "skip"): (Outcome.DEACTIVATED, UserStatus.DEACTIVATED),
    ("invited", False, "update"): (Outcome.DEACTIVATED, UserStatus.DEACTIVATED),
    ("deactivated", True, "skip"): (Outcome.ACTIVATED, UserStatus.ACTIVE),
    ("deactivated", True, "update"): (Outcome.ACTIVATED, UserStatus.ACTIVE),
    ("deactivated", None, "skip"): (Outcome.SKIPPED, UserStatus.DEACTIVATED),
    ("deactivated", None, "update"): (Outcome.UPDATED, UserStatus.DEACTIVATED),
    ("deactivated", False, "skip"): (Outcome.SKIPPED, UserStatus.DEACTIVATED),
    ("deactivated", False, "update"): (Outcome.UPDATED, UserStatus.DEACTIVATED),
}


@pytest.mark.parametrize(("state", "enabled", "mode"), list(EXPECTED))
def test_every_combination(state: str | None, enabled: bool | None, mode: str) -> None:
    record = UserRecord(line=2, email="pat@acme.example", values={Field.LAST_NAME: "New"}, enabled=enabled)
    existing = replace(EXISTING, status=UserStatus(state)) if state else None
    plan = plan_row(record, existing, True, ImportMode(mode), "u2", "acme", NOW, "admin@acme.example")
    outcome, status = EXPECTED[(state, enabled, mode)]
    assert plan.outcome is outcome
    assert (plan.after.status if plan.after else None) is status
    if plan.after is not None and existing is not None:
        assert plan.after.last_name == ("New" if mode == "update" else "Old")  # skip leaves fields alone
        assert plan.after.id == "u1"
    if outcome is Outcome.CREATED:
        assert plan.after is not None and plan.after.last_name == "New" and plan.after.id == "u2"


def test_activation_without_a_password_goes_back_to_invited() -> None:
    record = UserRecord(line=2, email="pat@acme.example", enabled=True)
    deactivated = replace(EXISTING, status=UserStatus.DEACTIVATED)
    plan = plan_row(record, deactivated, False, ImportMode.SKIP, "u2", "acme", NOW, None)
    assert plan.outcome is Outcome.ACTIVATED and plan.after is not None
    assert plan.after.status is UserStatus.INVITED


def test_an_admin_cannot_deactivate_themself_by_import() -> None:
    record = UserRecord(line=2, email="pat@acme.example", enabled=False)
    plan = plan_row(record, EXISTING, True, ImportMode.SKIP, "u2", "acme", NOW, "pat@acme.example")
    assert plan.outcome is Outcome.FAILED and plan.error is not None
    assert plan.error[0] == "cannot_deactivate_self"


def test_a_role_column_changes_the_role_in_update_mode_only() -> None:
    record = UserRecord(line=2, email="pat@acme.example", role=Role.ADMIN)
    assert (
        plan_row(record, EXISTING, True, ImportMode.SKIP, "u", "acme", NOW, None).outcome is Outcome.SKIPPED
    )
    updated = plan_row(record, EXISTING, True, ImportMode.UPDATE, "u", "acme", NOW, None)
    assert updated.after is not None and updated.after.role is Role.ADMIN
