"""Tenancy checks of the groups, chats and files routes; test_tenancy.py gathers them.

Each check gets a fresh moto and an `Api`, and proves that a token of one domain cannot read or
change another domain's objects through that route (404), nor reach it without a token (401).

The helpers at the top are shared with test_groups_api, test_chats_api and test_files_api."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from chalicelib.domain.models import Role
from tests.conftest import Api, error_of
from tests.integration.factories import add_user

# --- helpers shared by the content tests ------------------------------------------------------


def sign_in(api: Api, domain: str, email: str, role: Role = Role.MEMBER) -> tuple[str, str]:
    """A new active user of the domain, signed in: (user id, token)."""
    user = add_user(domain, email, role=role)
    response = api.login(domain, email)
    assert response.status_code == 200, response.body
    return user.id, str(response.json_body["token"])


def admin_id(api: Api, token: str) -> str:
    return str(api.call("GET", "/me", token=token).json_body["id"])


def create_group(api: Api, token: str, name: str = "Project X", description: str = "") -> dict[str, Any]:
    response = api.call("POST", "/groups", {"name": name, "description": description}, token=token)
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def add_member(api: Api, token: str, group_id: str, user_id: str, role: str | None = None) -> Any:
    body: dict[str, Any] = {"user_id": user_id}
    if role:
        body["role"] = role
    return api.call("POST", f"/groups/{group_id}/members", body, token=token)


def post(api: Api, token: str, path: str, text: str, file_ids: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"text": text}
    if file_ids is not None:
        body["file_ids"] = file_ids
    return api.call("POST", path, body, token=token)


def upload(
    api: Api,
    token: str,
    data: bytes = b"hello",
    filename: str = "notes.txt",
    content_type: str = "text/plain",
) -> str:
    """POST /files, then the PUT a client makes to the presigned URL; the new file's id."""
    answer = api.call(
        "POST", "/files", {"filename": filename, "content_type": content_type, "size": len(data)}, token=token
    )
    assert answer.status_code == 201, answer.body
    put = requests.put(
        answer.json_body["upload_url"], data=data, headers=answer.json_body["headers"], timeout=10
    )
    assert put.status_code == 200, put.text
    return str(answer.json_body["file_id"])


# --- the checks -------------------------------------------------------------------------------


def _acme_with_group(api: Api) -> tuple[str, str, str, dict[str, Any]]:
    """acme's admin token, globex's admin token, an acme member's id, and an acme group."""
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    member_id, _ = sign_in(api, "acme", "mo@acme.example")
    group = create_group(api, acme, "Acme secrets")
    assert add_member(api, acme, group["id"], member_id).status_code == 201
    return acme, globex, member_id, group


def check_groups_create_and_list(api: Api) -> None:
    acme, globex, _, group = _acme_with_group(api)
    assert error_of(api.call("POST", "/groups", {"name": "x"})) == (401, "unauthenticated")
    assert error_of(api.call("GET", "/groups")) == (401, "unauthenticated")
    globex_groups = api.call("GET", "/groups", token=globex).json_body["items"]
    assert group["id"] not in {g["id"] for g in globex_groups}
    assert {g["name"] for g in globex_groups} == {"All Of Us", "Admin Announcements"}
    # a cursor of acme's list does not page globex's
    acme_page = api.call("GET", "/groups?limit=1", token=acme).json_body
    assert acme_page["next_cursor"]
    stolen = api.call("GET", f"/groups?cursor={acme_page['next_cursor']}", token=globex)
    assert error_of(stolen) == (400, "invalid_cursor")


def check_group_read(api: Api) -> None:
    _, globex, _, group = _acme_with_group(api)
    assert error_of(api.call("GET", f"/groups/{group['id']}")) == (401, "unauthenticated")
    # globex's *domain admin* manages every globex group, and no acme group
    assert error_of(api.call("GET", f"/groups/{group['id']}", token=globex)) == (404, "group_not_found")


def check_group_members(api: Api) -> None:
    acme, globex, member_id, group = _acme_with_group(api)
    globex_user, _ = sign_in(api, "globex", "gus@globex.example")
    path = f"/groups/{group['id']}/members"
    assert error_of(api.call("POST", path, {"user_id": member_id})) == (401, "unauthenticated")
    assert error_of(api.call("DELETE", f"{path}/{member_id}")) == (401, "unauthenticated")
    # globex cannot add to, or remove from, an acme group
    assert error_of(add_member(api, globex, group["id"], globex_user)) == (404, "group_not_found")
    assert error_of(api.call("DELETE", f"{path}/{member_id}", token=globex)) == (404, "group_not_found")
    # and acme cannot add a globex user to its own group
    assert error_of(add_member(api, acme, group["id"], globex_user)) == (404, "user_not_found")
    assert error_of(api.call("DELETE", f"{path}/{globex_user}", token=acme)) == (404, "user_not_found")
    assert add_member(api, acme, group["id"], member_id).status_code == 200  # still a member


def check_group_messages(api: Api) -> None:
    acme, globex, _, group = _acme_with_group(api)
    path = f"/groups/{group['id']}/messages"
    assert post(api, acme, path, "acme only").status_code == 201
    assert error_of(api.call("POST", path, {"text": "x"})) == (401, "unauthenticated")
    assert error_of(api.call("GET", path)) == (401, "unauthenticated")
    assert error_of(post(api, globex, path, "hello from globex")) == (404, "group_not_found")
    assert error_of(api.call("GET", path, token=globex)) == (404, "group_not_found")
    texts = [m["text"] for m in api.call("GET", path, token=acme).json_body["items"]]
    assert texts == ["acme only"]


def check_chats(api: Api) -> None:
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    acme_user, _ = sign_in(api, "acme", "mo@acme.example")
    globex_user, _ = sign_in(api, "globex", "gus@globex.example")
    assert error_of(api.call("POST", f"/chats/{acme_user}/messages", {"text": "x"})) == (
        401,
        "unauthenticated",
    )
    assert error_of(api.call("GET", f"/chats/{acme_user}/messages")) == (401, "unauthenticated")
    assert error_of(post(api, acme, f"/chats/{globex_user}/messages", "hi")) == (404, "user_not_found")
    assert error_of(api.call("GET", f"/chats/{globex_user}/messages", token=acme)) == (404, "user_not_found")
    assert post(api, acme, f"/chats/{acme_user}/messages", "hi mo").status_code == 201
    # globex's admin cannot read acme's chat through the acme user's id
    assert error_of(api.call("GET", f"/chats/{acme_user}/messages", token=globex)) == (404, "user_not_found")


def check_files(api: Api) -> None:
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 5}
    assert error_of(api.call("POST", "/files", body)) == (401, "unauthenticated")
    answer = api.call("POST", "/files", body, token=acme).json_body
    assert f"/files/acme/{answer['file_id']}/a.txt" in answer["upload_url"]  # the key names the domain
    acme_file = upload(api, acme)
    assert error_of(api.call("GET", f"/files/{acme_file}")) == (401, "unauthenticated")
    assert error_of(api.call("GET", f"/files/{acme_file}", token=globex)) == (404, "file_not_found")
    # a globex message cannot carry an acme file
    group = create_group(api, globex, "Globex team")
    refused = post(api, globex, f"/groups/{group['id']}/messages", "look", [acme_file])
    assert error_of(refused) == (400, "invalid_file")
    assert api.call("GET", f"/files/{acme_file}", token=acme).status_code == 200


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/groups", "POST"): check_groups_create_and_list,
    ("/groups", "GET"): check_groups_create_and_list,
    ("/groups/{group_id}", "GET"): check_group_read,
    ("/groups/{group_id}/members", "POST"): check_group_members,
    ("/groups/{group_id}/members/{user_id}", "DELETE"): check_group_members,
    ("/groups/{group_id}/messages", "POST"): check_group_messages,
    ("/groups/{group_id}/messages", "GET"): check_group_messages,
    ("/chats/{user_id}/messages", "POST"): check_chats,
    ("/chats/{user_id}/messages", "GET"): check_chats,
    ("/files", "POST"): check_files,
    ("/files/{file_id}", "GET"): check_files,
}
