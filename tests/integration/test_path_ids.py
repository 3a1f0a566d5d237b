"""Every path id is checked for its format before it becomes a key: an id of 3 000 characters, or
of characters no id has, answers the route's 404 (or a 4xx that comes earlier in the contract's
order of checks: 401, 403, 404, then the body), never a 500 from DynamoDB's key size limits.

Generated over app.routes: a new route with a path parameter is checked without being listed."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from app import app
from chalicelib.core import ids
from tests.conftest import PLATFORM_KEY, Api, error_of

LONG = "a" * 3000
ODD = ["x" * 27, "01M8A7CYNKBVZE55JKDYPEXHTP!", "..", "a b", "é" * 40, "a#b", "%00", "A" * 26, "-x"]
# a device's admin id is `<user id>-<base64url device id>`: a long device id in a well-formed one
LONG_DEVICE = f"{ids.new_id()}-{'QUFB' * 750}"

ROUTES = sorted((path, method) for path, methods in app.routes.items() if "{" in path for method in methods)


def concrete(path: str, value: str) -> str:
    return re.sub(r"\{[a-z_]+\}", quote(value, safe=""), path)


def call(api: Api, token: str, method: str, path: str) -> Any:
    headers = {"X-Platform-Key": PLATFORM_KEY} if path.startswith("/platform/") else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return api.call(method, path, body, token=token, headers=headers)


@pytest.fixture
def admin(api: Api) -> str:
    return api.admin_token("acme")


def test_every_route_with_a_path_parameter_is_covered() -> None:
    assert len(ROUTES) >= 20, ROUTES


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_a_3000_character_or_odd_id_answers_404_never_500(
    api: Api, admin: str, path: str, method: str
) -> None:
    for value in [LONG, *ODD, LONG_DEVICE]:
        answer = call(api, admin, method, concrete(path, value))
        status, code = error_of(answer)
        assert status == 404, (value[:30], status, code)
        assert code.endswith("not_found"), code


# Routes whose path parameter is their credential (a webhook's secret): an unknown one is a 404.
SECRET_IN_PATH = {
    ("/hooks/slack/{secret}", "POST"),
    ("/hooks/mailchimp/{secret}", "GET"),
    ("/hooks/mailchimp/{secret}", "POST"),
}


def test_an_unauthenticated_call_with_a_long_id_is_still_a_401(api: Api, admin: str) -> None:
    for path, method in ROUTES:
        answer = api.call(method, concrete(path, LONG), {} if method != "GET" else None)
        expected = 404 if (path, method) in SECRET_IN_PATH else 401
        assert answer.status_code == expected, (method, path)
