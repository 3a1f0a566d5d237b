"""Cells of the CSV files we write, made safe for a spreadsheet (API.md §0; OWASP's "CSV
Injection"): a text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be
run as a formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE), so it gets a leading `'`, which a
spreadsheet shows as text and does not keep in the value.

- Text is always neutralised, numbers written as text included: the cell "-5" comes out "'-5"
  (OWASP's rule; a report's text cells — emails, names, messages — are never meant as numbers,
  and "-2+3" or "-cmd|..." are formulas as well).
- Numbers the program itself writes (int, float, Decimal; not bool) stay numbers: `-5` is "-5".
  A number cannot carry a formula, and a column of line numbers or counts must stay numeric.
- None is an empty cell; anything else (bool, dates...) is written as its text, neutralised.

Every CSV writer of the product writes through `writer()` (or `write_row`, `safe_cell`)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def safe_cell(value: object) -> str:
    """The cell's text as a spreadsheet will not run it."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    return ESCAPE + text if text.startswith(FORMULA_TRIGGERS) else text


class SafeWriter:
    """csv.writer whose every cell goes through `safe_cell` (CRLF line ends, RFC 4180)."""

    def __init__(self, buffer: IO[str], **options: Any) -> None:
        options.setdefault("lineterminator", "\r\n")
        self._writer = csv.writer(buffer, **options)

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(buffer: IO[str], **options: Any) -> SafeWriter:
    return SafeWriter(buffer, **options)


def write_row(buffer: IO[str], row: Iterable[object], **options: Any) -> None:
    SafeWriter(buffer, **options).writerow(row)
