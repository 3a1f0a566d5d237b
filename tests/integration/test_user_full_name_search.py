"""`GET /admin/users?q=`: the full name as people type it ("bo ng", "Bo  Ng") is a prefix match
too, beside first name, last name and email (API.md §4). Three search entries a user (the full
name, which a first name's prefix matches too, the last name, the email), kept by every writer:
create, rename, status changes, deletion, imports."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.core import aws
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from tests.conftest import Api
from tests.integration.test_imports_api import upload
from tests.integration.test_user_deletion import drain_jobs


@pytest.fixture
def admin(api: Api) -> str:
    return api.admin_token("acme")


def create(api: Api, token: str, first: str, last: str, email: str) -> str:
    body = {"email": email, "first_name": first, "last_name": last}
    response = api.call("POST", "/admin/users", body, token=token)
    assert response.status_code == 201, response.body
    return str(response.json_body["id"])


def search(api: Api, token: str, q: str, extra: str = "") -> list[str]:
    """The emails a search finds, every page read (limit 1: each page a cursor)."""
    found: list[str] = []
    cursor = ""
    for _ in range(50):
        path = f"/admin/users?q={quote(q)}&limit=1{extra}" + (f"&cursor={quote(cursor)}" if cursor else "")
        answer = api.call("GET", path, token=token)
        assert answer.status_code == 200, answer.body
        found += [u["email"] for u in answer.json_body["items"]]
        cursor = answer.json_body["next_cursor"]
        if not cursor:
            return found
    raise AssertionError("the search never ended")


def entries_of(user_id: str) -> list[tuple[str, str]]:
    """(kind, token) of the user's search entries."""
    items = Table().query(keys.user_search_pk("acme")).items
    return sorted((i["kind"], i["sk"].split("#")[0]) for i in items if i["user_id"] == user_id)


@pytest.fixture
def people(api: Api, admin: str) -> dict[str, str]:
    return {
        "bo": create(api, admin, "Bo", "Ng", "bo.ng@acme.example"),
        "nash": create(api, admin, "Bo", "Nash", "bnash@acme.example"),
        "bob": create(api, admin, "Bob", "Stone", "rs@acme.example"),
        "ng": create(api, admin, "Ng", "Bo", "nb@acme.example"),
    }


def test_the_full_name_as_typed_finds_the_user(api: Api, admin: str, people: dict[str, str]) -> None:
    for q in ("bo ng", "Bo Ng", "Bo  Ng", "  BO   NG ", "bo\tng"):
        assert search(api, admin, q) == ["bo.ng@acme.example"], q
    assert search(api, admin, "bo n") == ["bnash@acme.example", "bo.ng@acme.example"]
    assert search(api, admin, "bo na") == ["bnash@acme.example"]
    assert search(api, admin, "bob st") == ["rs@acme.example"]
    assert search(api, admin, "bo ngx") == []
    # first, last and email prefixes match as before
    assert search(api, admin, "ston") == ["rs@acme.example"]
    assert search(api, admin, "bo.") == ["bo.ng@acme.example"]
    # three entries a user: a prefix of the first name is one of the full name
    assert entries_of(people["bo"]) == [
        ("email", "bo.ng@acme.example"),
        ("full", "bo ng"),
        ("last", "ng"),
    ]


def test_a_user_matching_several_ways_appears_once(api: Api, admin: str, people: dict[str, str]) -> None:
    # "bo" is Bo Ng's first name, the start of his full name and of his email: one row
    found = search(api, admin, "bo")
    assert sorted(found) == sorted(
        ["bo.ng@acme.example", "bnash@acme.example", "rs@acme.example", "nb@acme.example"]
    )
    assert len(found) == len(set(found))
    # "ng" is Bo Ng's last name and Ng Bo's first name and full name
    found = search(api, admin, "ng")
    assert sorted(found) == ["bo.ng@acme.example", "nb@acme.example"]
    one_page = api.call("GET", "/admin/users?q=bo&limit=200", token=admin).json_body
    assert len(one_page["items"]) == 4 and one_page["next_cursor"] is None
    # with a status filter (every one of them is invited)
    assert search(api, admin, "bo ng", "&status=invited") == ["bo.ng@acme.example"]
    assert search(api, admin, "bo ng", "&status=active") == []


def test_a_rename_moves_the_full_name_entry(api: Api, admin: str, people: dict[str, str]) -> None:
    user = people["bo"]
    answer = api.call("PATCH", f"/admin/users/{user}", {"first_name": "Bea"}, token=admin)
    assert answer.status_code == 200, answer.body
    assert search(api, admin, "bo ng") == []
    assert search(api, admin, "bea ng") == ["bo.ng@acme.example"]
    assert ("full", "bea ng") in entries_of(user) and len(entries_of(user)) == 3
    answer = api.call("PATCH", f"/admin/users/{user}", {"last_name": "Ngata  Lee"}, token=admin)
    assert answer.status_code == 200, answer.body
    assert search(api, admin, "bea ngata lee") == ["bo.ng@acme.example"]
    assert entries_of(user) == [
        ("email", "bo.ng@acme.example"),
        ("full", "bea ngata lee"),
        ("last", "ngata lee"),
    ]


def test_status_changes_keep_three_entries(api: Api, admin: str, people: dict[str, str]) -> None:
    user = people["bo"]
    assert api.call("POST", f"/admin/users/{user}/deactivate", token=admin).status_code == 200
    assert search(api, admin, "bo ng", "&status=deactivated") == ["bo.ng@acme.example"]
    assert search(api, admin, "bo ng", "&status=invited") == []
    assert len(entries_of(user)) == 3
    assert api.call("POST", f"/admin/users/{user}/activate", token=admin).status_code == 200
    assert search(api, admin, "bo ng", "&status=invited") == ["bo.ng@acme.example"]
    assert len(entries_of(user)) == 3


def test_a_deleted_user_leaves_no_search_entry(
    api: Api, client: Any, admin: str, people: dict[str, str]
) -> None:
    user = people["bo"]
    assert api.call("DELETE", f"/admin/users/{user}", token=admin).status_code == 202
    drain_jobs(client)
    assert entries_of(user) == []
    assert search(api, admin, "bo ng") == []
    assert search(api, admin, "bo n") == ["bnash@acme.example"]


def test_imported_users_are_found_by_full_name(api: Api, client: Any, admin: str) -> None:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    body = "Email,First Name,Last Name\nbo@acme.example,Bo,Ng\nann@acme.example,Ann,Archer\n"
    assert upload(api, client, admin, body)["status"] == "completed"
    assert search(api, admin, "bo ng") == ["bo@acme.example"]
    assert search(api, admin, "ann ar") == ["ann@acme.example"]
    # an import in update mode renames: the full-name entry moves with the others
    renamed = "Email,First Name,Last Name\nbo@acme.example,Bea,Ng\n"
    assert upload(api, client, admin, renamed, mode="update")["status"] == "completed"
    assert search(api, admin, "bo ng") == []
    assert search(api, admin, "bea ng") == ["bo@acme.example"]
    bea = api.call("GET", "/admin/users?q=bea", token=admin).json_body["items"][0]["id"]
    assert len(entries_of(bea)) == 3


def test_device_search_shares_the_full_name(api: Api, admin: str) -> None:
    """`GET /admin/devices?q=` reads the same search entries (a user's name or email, API.md §3)."""
    from tests.integration.factories import add_user

    add_user("acme", "mo@acme.example")  # Mo Member
    assert api.login("acme", "mo@acme.example", client_kind="ios", device_id="phone-1").status_code == 200
    for q in ("mo mem", "Mo  Member"):
        answer = api.call("GET", f"/admin/devices?q={quote(q)}", token=admin)
        assert answer.status_code == 200, answer.body
        assert [d["device_id"] for d in answer.json_body["items"]] == ["phone-1"], q
