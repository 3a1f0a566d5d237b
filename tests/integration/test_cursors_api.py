"""A list's cursor is good only for that list and the filters it came from (API.md §0): reused
under other filters, tampered with or forged, it answers 400 `invalid_cursor`, never a 500 from
DynamoDB (which refuses a start key outside the query's key condition)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.domain.models import UserStatus
from tests.conftest import Api, error_of
from tests.integration.factories import add_user
from tests.integration.tenancy_content import create_group


@pytest.fixture
def admin(api: Api) -> str:
    token = api.admin_token("acme")
    for n in range(5):
        add_user("acme", f"sam{n}@acme.example")
        add_user("acme", f"ivy{n}@acme.example", status=UserStatus.INVITED)
    return token


def first_cursor(api: Api, token: str, path: str) -> str:
    body = api.call("GET", path, token=token).json_body
    assert body["next_cursor"], body
    return str(body["next_cursor"])


def every_page(api: Api, token: str, path: str) -> list[str]:
    seen: list[str] = []
    cursor = ""
    for _ in range(20):
        answer = api.call("GET", f"{path}&cursor={quote(cursor)}", token=token)
        assert answer.status_code == 200, answer.json_body
        seen += [item.get("email") or item["user"]["email"] for item in answer.json_body["items"]]
        cursor = answer.json_body["next_cursor"]
        if not cursor:
            return seen
    raise AssertionError("the list never ended")


@pytest.mark.parametrize(
    ("path", "other"),
    [
        ("/admin/users?status=active&limit=2", "/admin/users?status=invited&limit=2"),
        ("/admin/users?status=active&limit=2", "/admin/users?limit=2"),
        ("/admin/users?status=invited&limit=2", "/admin/users?status=deactivated&limit=2"),
        ("/admin/users?q=sam&limit=2", "/admin/users?q=sa&limit=2"),
        ("/admin/users?q=sam&limit=2", "/admin/users?q=ivy&limit=2"),
        ("/admin/users?q=sam&limit=2", "/admin/users?q=sam&status=active&limit=2"),
        ("/admin/users?q=sam&limit=2", "/admin/users?limit=2"),
        ("/admin/users?limit=2", "/admin/users?two_factor=not_enrolled&limit=2"),
        ("/admin/users?limit=2", "/admin/audit?limit=2"),
    ],
)
def test_a_users_cursor_under_other_filters_is_refused(api: Api, admin: str, path: str, other: str) -> None:
    cursor = first_cursor(api, admin, path)
    assert error_of(api.call("GET", f"{other}&cursor={cursor}", token=admin)) == (400, "invalid_cursor")


def test_a_users_cursor_still_pages_under_the_same_filters(api: Api, admin: str) -> None:
    assert sorted(every_page(api, admin, "/admin/users?q=sam&limit=2")) == [
        f"sam{n}@acme.example" for n in range(5)
    ]
    assert sorted(every_page(api, admin, "/admin/users?status=invited&limit=2")) == [
        f"ivy{n}@acme.example" for n in range(5)
    ]
    # q is bound as the search reads it (trimmed, lower case): the same search, the same list
    cursor = first_cursor(api, admin, "/admin/users?q=Sam&limit=2")
    assert api.call("GET", f"/admin/users?q=sam%20&limit=2&cursor={cursor}", token=admin).status_code == 200


def test_a_users_cursor_of_another_domain_is_refused(api: Api, admin: str) -> None:
    cursor = first_cursor(api, admin, "/admin/users?limit=2")
    globex = api.admin_token("globex")
    assert error_of(api.call("GET", f"/admin/users?limit=2&cursor={cursor}", token=globex)) == (
        400,
        "invalid_cursor",
    )


def tampered(cursor: str) -> list[str]:
    payload, tag = cursor.split(".")
    return [
        f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{tag}",
        f"{payload}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}",
        payload,
        f"{payload}.",
        f".{tag}",
        "x" * 3000,
    ]


def test_a_tampered_cursor_is_refused(api: Api, admin: str) -> None:
    cursor = first_cursor(api, admin, "/admin/users?status=active&limit=2")
    for forged in tampered(cursor):
        answer = api.call("GET", f"/admin/users?status=active&limit=2&cursor={quote(forged)}", token=admin)
        assert error_of(answer) == (400, "invalid_cursor"), forged


def phones(api: Api) -> None:
    for n in range(4):
        answer = api.login("acme", email=f"sam{n}@acme.example", client_kind="ios", device_id=f"phone-{n}")
        assert answer.status_code == 200, answer.json_body


def test_a_devices_cursor_under_another_q_is_refused_and_pages_under_its_own(api: Api, admin: str) -> None:
    phones(api)
    cursor = first_cursor(api, admin, "/admin/devices?q=sam&limit=1")
    for other in ("/admin/devices?q=sa&limit=1", "/admin/devices?q=ivy&limit=1", "/admin/devices?limit=1"):
        answer = api.call("GET", f"{other}&cursor={cursor}", token=admin)
        assert error_of(answer) == (400, "invalid_cursor"), other
    for forged in tampered(cursor):
        answer = api.call("GET", f"/admin/devices?q=sam&limit=1&cursor={quote(forged)}", token=admin)
        assert error_of(answer) == (400, "invalid_cursor"), forged
    assert sorted(every_page(api, admin, "/admin/devices?q=sam&limit=1")) == [
        f"sam{n}@acme.example" for n in range(4)
    ]
    plain = first_cursor(api, admin, "/admin/devices?limit=1")
    answer = api.call("GET", f"/admin/devices?q=sam&limit=1&cursor={plain}", token=admin)
    assert error_of(answer) == (400, "invalid_cursor")
    assert len(every_page(api, admin, "/admin/devices?limit=1")) == 4


def test_a_message_cursor_is_good_for_its_conversation_only(api: Api, admin: str) -> None:
    ids = [create_group(api, admin, name=f"G{n}")["id"] for n in range(2)]
    for group_id in ids:
        for n in range(3):
            api.call("POST", f"/groups/{group_id}/messages", {"text": f"m{n}"}, token=admin)
    cursor = first_cursor(api, admin, f"/groups/{ids[0]}/messages?limit=2")
    answer = api.call("GET", f"/groups/{ids[1]}/messages?limit=2&cursor={cursor}", token=admin)
    assert error_of(answer) == (400, "invalid_cursor")
    page: Any = api.call("GET", f"/groups/{ids[0]}/messages?limit=2&cursor={cursor}", token=admin).json_body
    assert len(page["items"]) == 1 and page["next_cursor"] is None  # the third of its three
