"""§7 on moto: the report says why (`line,email,outcome,reason`, the email as the file gave it),
and a drop refused for its metadata shows that metadata as given, not the defaults."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.domain.models import UserStatus
from chalicelib.repositories.dynamo import Table
from tests.conftest import Api
from tests.integration.factories import add_user, set_user_status
from tests.integration.test_imports_api import deliver, drop, only_import, report_rows, upload

BUCKET = "office-chat-files"


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def _user(email: str, status: UserStatus) -> None:
    user = add_user("acme", email)
    if status is not UserStatus.ACTIVE:
        set_user_status(user, status)


def test_every_row_of_the_report_says_what_happened_and_why(api: Api, client: Any, admin: str) -> None:
    _user("act@acme.example", UserStatus.DEACTIVATED)
    _user("deact@acme.example", UserStatus.ACTIVE)
    _user("gone@acme.example", UserStatus.DEACTIVATED)
    _user("same@acme.example", UserStatus.ACTIVE)
    used = int(Table().get("D#acme", "META")["seats_used"])  # type: ignore[index]
    Table().update("D#acme", "META", "SET seats_total = :total", {":total": used + 2})
    body = (
        "Email,First Name,Enabled\n"
        "act@acme.example,Act,TRUE\n"  # 2 activated (a seat)
        "deact@acme.example,De,FALSE\n"  # 3 deactivated
        "gone@acme.example,Gone,FALSE\n"  # 4 already deactivated
        "Same@Acme.example,Same,\n"  # 5 exists, mode skip; shown as given
        "never@acme.example,Never,FALSE\n"  # 6 never created
        "admin@acme.example,Ada,FALSE\n"  # 7 the requesting admin
        "new@acme.example,New,\n"  # 8 created (the last seat)
        "NEW@acme.example,Again,\n"  # 9 the same email again
        "more@acme.example,More,\n"  # 10 no seat left
        "=cmd|' /C calc'!A0,Eve,\n"  # 11 not an email, shown as given and neutralised
        "bad@acme.example,Bad,maybe\n"  # 12 bad Enabled
        "short@acme.example\n"  # 13 wrong field count
    )
    details = upload(api, client, admin, body, mode="skip")
    assert details["status"] == "completed", details
    rows = [(r["line"], r["email"], r["outcome"], r["reason"]) for r in report_rows(details)]
    assert rows == [
        ("2", "act@acme.example", "activated", "Enabled is TRUE and the user was deactivated; now active"),
        ("3", "deact@acme.example", "deactivated", "Enabled is FALSE and the user was active"),
        ("4", "gone@acme.example", "skipped", "already deactivated; mode is skip"),
        ("5", "Same@Acme.example", "skipped", "exists; mode is skip"),
        ("6", "never@acme.example", "skipped", "Enabled is FALSE, which never creates a user"),
        ("7", "admin@acme.example", "failed", "You cannot deactivate yourself."),
        ("8", "new@acme.example", "created", ""),
        ("9", "NEW@acme.example", "failed", "new@acme.example is already on line 8; the first row wins."),
        (
            "10",
            "more@acme.example",
            "failed",
            f"No seat left ({used + 2} of {used + 2} used); free one or buy more.",
        ),
        (
            "11",
            "'=cmd|' /C calc'!A0",
            "failed",
            "The Email field \"=cmd|' /C calc'!A0\" is not an email address.",
        ),
        (
            "12",
            "bad@acme.example",
            "failed",
            'The Enabled field "maybe" is neither TRUE nor FALSE (yes/no, y/n and 1/0 also do); '
            "leave it blank to leave the user's state alone.",
        ),
        ("13", "short@acme.example", "failed", "Expected 3 fields, one for each heading, but found 1."),
    ]
    assert all(reason for _, _, outcome, reason in rows if outcome not in ("created", "updated"))
    # the contract's errors keep {line, code, message}
    assert details["errors"][0] == {
        "line": 7,
        "code": "cannot_deactivate_self",
        "message": "You cannot deactivate yourself.",
    }


def test_a_drop_with_a_mode_that_is_not_one_shows_it_as_given(api: Api, client: Any, admin: str) -> None:
    drop("team.csv", "Email\nann@acme.example\n", mode="upsert", **{"send-invites": "yes"})
    deliver(client)
    details = only_import(api, admin)
    assert details["status"] == "failed" and details["source"] == "drop"
    assert details["mode"] == "upsert"  # not the default it would have fallen back to
    assert details["options"] == {"mode": "upsert", "send_invites": "yes"}
    assert details["error"]["code"] == "invalid_mode"
    assert 'mode is "upsert", not skip or update' in details["error"]["message"]
    assert "send-invites" not in details["error"]["message"]  # "yes" is a valid value
    listed = api.call("GET", "/admin/imports", token=admin).json_body["items"]
    assert (listed[0]["mode"], listed[0]["status"]) == ("upsert", "failed")


def test_a_flag_that_is_neither_true_nor_false_refuses_the_drop(api: Api, client: Any, admin: str) -> None:
    drop("team.csv", "Email\nann@acme.example\n", **{"dry-run": "ture", "requested-by": "admin@acme.example"})
    deliver(client)
    details = only_import(api, admin)
    assert details["status"] == "failed" and details["error"]["code"] == "invalid_dry_run"
    assert 'dry-run is "ture", not true or false' in details["error"]["message"]
    assert details["options"] == {"dry_run": "ture", "requested_by": "admin@acme.example"}
    assert details["mode"] == "skip"  # no mode given: the default, and the view says none was given
    assert "ann@acme.example" not in str(api.call("GET", "/admin/users", token=admin).json_body)


def test_a_valid_drop_keeps_typed_options(api: Api, client: Any, admin: str) -> None:
    drop("team.csv", "Email\nann@acme.example\n", mode="Update", **{"send-invites": "NO", "dry-run": ""})
    deliver(client)
    details = only_import(api, admin)
    assert details["status"] == "completed"
    assert (details["mode"], details["send_invites"], details["dry_run"], details["options"]) == (
        "update",
        False,
        False,
        None,
    )
