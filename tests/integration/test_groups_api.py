"""§5 Groups over HTTP: create, list mine, read, members (add, role, remove, leave), messages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.domain.models import Role, UserStatus
from chalicelib.repositories import keys
from chalicelib.repositories.default_groups import DomainGroupRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository
from tests.conftest import Api, error_of
from tests.integration.factories import add_user, set_user_status
from tests.integration.tenancy_content import add_member, admin_id, create_group, post, sign_in


def _membership(domain: str, group_id: str, user_id: str) -> dict[str, Any] | None:
    return Table().get(keys.group_pk(domain, group_id), keys.member_sk(user_id))


def _mark_default(domain: str, group_id: str) -> None:
    group = DomainGroupRepository(Table()).get(domain, group_id)
    assert group is not None
    Table().put(GroupRepository.to_item(replace(group, is_default=True)))


def _audit_actions(api: Api, token: str) -> list[tuple[str, str, dict[str, Any]]]:
    items = api.call("GET", "/admin/audit", token=token).json_body["items"]
    return [(e["action"], e["target"], e["details"]) for e in items]


# --- create, list, read -------------------------------------------------------------------------


def test_a_member_creates_a_group_and_is_its_admin(api: Api, clock: Any) -> None:
    api.admin_token()
    mo, token = sign_in(api, "acme", "mo@acme.example")
    response = api.call("POST", "/groups", {"name": "  Launch  ", "description": "Q3 launch"}, token=token)
    assert response.status_code == 201
    group = response.json_body
    assert group == {
        "id": group["id"],
        "name": "Launch",
        "description": "Q3 launch",
        "default": False,
        "created_by": mo,
        "created_at": "2026-11-24T12:00:00Z",
        "my_role": "admin",
    }
    stored = _membership("acme", group["id"], mo)
    assert stored is not None and stored["role"] == "admin"
    assert api.call("GET", f"/groups/{group['id']}", token=token).json_body == group
    mine = api.call("GET", "/groups", token=token).json_body
    assert mine == {"items": [group], "next_cursor": None}


def test_a_guest_cannot_create_a_group(api: Api) -> None:
    api.admin_token()
    _, guest = sign_in(api, "acme", "guest@acme.example", role=Role.GUEST)
    assert error_of(api.call("POST", "/groups", {"name": "Nope"}, token=guest)) == (403, "guest_not_allowed")
    assert api.call("GET", "/groups", token=guest).json_body["items"] == []


def test_group_fields_are_checked(api: Api) -> None:
    admin = api.admin_token()
    assert error_of(api.call("POST", "/groups", {"name": "  "}, token=admin)) == (400, "missing_field")
    assert error_of(api.call("POST", "/groups", {}, token=admin)) == (400, "missing_field")
    assert error_of(api.call("POST", "/groups", {"name": "x" * 101}, token=admin)) == (400, "invalid_field")
    long_description = {"name": "ok", "description": "d" * 1001}
    assert error_of(api.call("POST", "/groups", long_description, token=admin)) == (400, "invalid_field")
    assert (
        api.call("POST", "/groups", {"name": "x" * 100, "description": "d" * 1000}, token=admin).status_code
        == 201
    )


def test_my_groups_are_paged_with_my_role(api: Api) -> None:
    admin = api.admin_token()
    created = [create_group(api, admin, f"Group {n}")["id"] for n in range(3)]
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(10):
        page = api.call("GET", f"/groups?limit=2&cursor={cursor}", token=admin).json_body
        assert len(page["items"]) <= 2
        seen += page["items"]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    roles = {g["name"]: (g["my_role"], g["default"]) for g in seen}
    assert len(seen) == 5 and {g["id"] for g in seen} >= set(created)
    assert roles["All Of Us"] == ("member", True) and roles["Admin Announcements"] == ("member", True)
    assert roles["Group 0"] == ("admin", False)
    assert error_of(api.call("GET", "/groups?cursor=garbage", token=admin)) == (400, "invalid_cursor")
    assert error_of(api.call("GET", "/groups?limit=0", token=admin)) == (400, "invalid_field")


def test_a_group_is_visible_to_its_members_and_to_domain_admins_only(api: Api) -> None:
    admin = api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    _, guest = sign_in(api, "acme", "guest@acme.example", role=Role.GUEST)
    group = create_group(api, mo, "Mo's")
    path = f"/groups/{group['id']}"
    assert error_of(api.call("GET", path, token=eve)) == (404, "group_not_found")
    assert error_of(api.call("GET", path, token=guest)) == (404, "group_not_found")
    assert group["id"] not in {g["id"] for g in api.call("GET", "/groups", token=eve).json_body["items"]}
    # a domain admin reads the group (to manage it) without being a member
    assert api.call("GET", path, token=admin).json_body == {**group, "my_role": None}
    assert error_of(api.call("GET", "/groups/01jd3x6f2q8k9m4n5p7r0s1t2v", token=admin)) == (
        404,
        "group_not_found",
    )
    assert error_of(api.call("GET", "/groups/not-an-id", token=admin)) == (404, "group_not_found")
    assert add_member(api, mo, group["id"], eve_id).status_code == 201
    assert api.call("GET", path, token=eve).json_body["my_role"] == "member"


# --- members ------------------------------------------------------------------------------------


def test_a_group_admin_adds_members_and_changes_roles(api: Api, clock: Any) -> None:
    admin = api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, _ = sign_in(api, "acme", "ann@acme.example")
    group = create_group(api, mo)
    clock.advance(minutes=5)
    added = add_member(api, mo, group["id"], eve_id)
    assert added.status_code == 201
    assert added.json_body == {
        "group_id": group["id"],
        "user": {"id": eve_id, "name": "Mo Member", "email": "eve@acme.example"},
        "role": "member",
        "joined_at": "2026-11-24T12:05:00Z",
    }
    # the same call again changes nothing
    again = add_member(api, mo, group["id"], eve_id)
    assert again.status_code == 200 and again.json_body == added.json_body
    # a plain member manages nothing: 403 (before the body is even read)
    assert error_of(add_member(api, eve, group["id"], ann_id)) == (403, "not_group_admin")
    bad_body = api.call("POST", f"/groups/{group['id']}/members", {}, token=eve)
    assert error_of(bad_body) == (403, "not_group_admin")
    # promoted, eve is a group admin: she adds ann; the join time of a promotion is kept
    clock.advance(minutes=5)
    promoted = add_member(api, mo, group["id"], eve_id, role="admin")
    assert promoted.status_code == 200
    assert promoted.json_body["role"] == "admin" and promoted.json_body["joined_at"] == "2026-11-24T12:05:00Z"
    assert add_member(api, eve, group["id"], ann_id).status_code == 201
    stored = _membership("acme", group["id"], eve_id)
    assert stored is not None and stored["role"] == "admin"
    assert stored["gsi1pk"] == keys.user_memberships_gsi1pk("acme", eve_id)
    # a role left out keeps the current one; demoting is allowed
    assert add_member(api, mo, group["id"], eve_id).json_body["role"] == "admin"
    assert add_member(api, mo, group["id"], eve_id, role="member").json_body["role"] == "member"
    # group admins' changes are not admin actions: nothing is audited
    assert not [a for a in _audit_actions(api, admin) if a[0].startswith("group.")]
    assert mo_id != eve_id


def test_adding_checks_the_body_and_the_user(api: Api) -> None:
    api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    gone = add_user("acme", "gone@acme.example")
    set_user_status(gone, UserStatus.DEACTIVATED)
    guest = add_user("acme", "guest@acme.example", role=Role.GUEST)
    invited = add_user("acme", "new@acme.example", status=UserStatus.INVITED)
    group = create_group(api, mo)
    path = f"/groups/{group['id']}/members"
    assert error_of(api.call("POST", path, {}, token=mo)) == (400, "missing_field")
    assert error_of(api.call("POST", path, {"user_id": guest.id, "role": "owner"}, token=mo)) == (
        400,
        "invalid_enum",
    )
    assert error_of(add_member(api, mo, group["id"], "01jd3x6f2q8k9m4n5p7r0s1t2v")) == (404, "user_not_found")
    assert error_of(add_member(api, mo, group["id"], "nobody")) == (404, "user_not_found")
    assert error_of(add_member(api, mo, group["id"], gone.id)) == (409, "user_deactivated")
    assert error_of(add_member(api, mo, group["id"], guest.id, role="admin")) == (
        409,
        "guest_cannot_be_group_admin",
    )
    assert add_member(api, mo, group["id"], guest.id).json_body["role"] == "member"
    assert add_member(api, mo, group["id"], invited.id).status_code == 201
    assert _membership("acme", group["id"], gone.id) is None


def test_non_members_get_404_for_member_routes(api: Api) -> None:
    api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    group = create_group(api, mo)
    assert error_of(add_member(api, eve, group["id"], eve_id)) == (404, "group_not_found")
    assert error_of(api.call("POST", f"/groups/{group['id']}/members", {}, token=eve)) == (
        404,
        "group_not_found",
    )
    assert error_of(api.call("DELETE", f"/groups/{group['id']}/members/{eve_id}", token=eve)) == (
        404,
        "group_not_found",
    )


def test_a_domain_admin_manages_any_group_and_is_audited(api: Api) -> None:
    admin = api.admin_token()
    me = admin_id(api, admin)
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, _ = sign_in(api, "acme", "eve@acme.example")
    group = create_group(api, mo, "Mo's")
    assert add_member(api, admin, group["id"], eve_id).status_code == 201
    assert add_member(api, admin, group["id"], eve_id, role="admin").status_code == 200
    assert api.call("DELETE", f"/groups/{group['id']}/members/{mo_id}", token=admin).status_code == 204
    actions = _audit_actions(api, admin)
    target = f"group:{group['id']}"
    assert (
        "group.member_removed",
        target,
        {"group": "Mo's", "user_id": mo_id, "email": "mo@acme.example"},
    ) in actions
    assert (
        "group.member_role_changed",
        target,
        {"group": "Mo's", "user_id": eve_id, "email": "eve@acme.example", "role": "admin"},
    ) in actions
    assert (
        "group.member_added",
        target,
        {"group": "Mo's", "user_id": eve_id, "email": "eve@acme.example", "role": "member"},
    ) in actions
    # managing is not reading: the admin is still no member
    assert _membership("acme", group["id"], me) is None
    assert error_of(api.call("GET", f"/groups/{group['id']}/messages", token=admin)) == (
        404,
        "group_not_found",
    )


def test_members_are_removed_by_group_admins_and_leave_by_themselves(api: Api) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, ann = sign_in(api, "acme", "ann@acme.example")
    group = create_group(api, mo)
    for user_id in (eve_id, ann_id):
        assert add_member(api, mo, group["id"], user_id).status_code == 201
    members = f"/groups/{group['id']}/members"
    # a plain member cannot remove someone else (403), even someone who is not a member
    assert error_of(api.call("DELETE", f"{members}/{ann_id}", token=eve)) == (403, "not_group_admin")
    assert error_of(api.call("DELETE", f"{members}/{mo_id}", token=eve)) == (403, "not_group_admin")
    # leaving
    leave = api.call("DELETE", f"{members}/{eve_id}", token=eve)
    assert leave.status_code == 204 and leave.body in (b"", "", None)
    assert _membership("acme", group["id"], eve_id) is None
    assert error_of(api.call("GET", f"/groups/{group['id']}", token=eve)) == (404, "group_not_found")
    assert error_of(api.call("DELETE", f"{members}/{eve_id}", token=eve)) == (404, "group_not_found")
    # removed by the group admin
    assert api.call("DELETE", f"{members}/{ann_id}", token=mo).status_code == 204
    assert error_of(api.call("DELETE", f"{members}/{ann_id}", token=mo)) == (404, "member_not_found")
    assert group["id"] not in {g["id"] for g in api.call("GET", "/groups", token=ann).json_body["items"]}
    # the last group admin may leave: domain admins still manage the group
    assert api.call("DELETE", f"{members}/{mo_id}", token=mo).status_code == 204


def test_nobody_leaves_or_is_removed_from_a_default_group(api: Api) -> None:
    admin = api.admin_token()
    me = admin_id(api, admin)
    mine = api.call("GET", "/groups", token=admin).json_body["items"]
    all_of_us = next(g for g in mine if g["name"] == "All Of Us")
    assert error_of(api.call("DELETE", f"/groups/{all_of_us['id']}/members/{me}", token=admin)) == (
        409,
        "default_group",
    )
    # a group made default later: the group admin gets 409, a plain member 403 first
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    group = create_group(api, mo)
    assert add_member(api, mo, group["id"], eve_id).status_code == 201
    _mark_default("acme", group["id"])
    members = f"/groups/{group['id']}/members"
    assert error_of(api.call("DELETE", f"{members}/{eve_id}", token=eve)) == (409, "default_group")
    assert error_of(api.call("DELETE", f"{members}/{eve_id}", token=mo)) == (409, "default_group")
    assert error_of(api.call("DELETE", f"{members}/{eve_id}", token=admin)) == (409, "default_group")
    assert error_of(api.call("DELETE", f"{members}/{mo_id}", token=eve)) == (403, "not_group_admin")
    assert _membership("acme", group["id"], eve_id) is not None
    assert api.call("GET", f"/groups/{group['id']}", token=eve).json_body["default"] is True


# --- messages -----------------------------------------------------------------------------------


def test_members_post_and_read_messages_newest_first(api: Api, clock: Any) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    guest_id, guest = sign_in(api, "acme", "guest@acme.example", role=Role.GUEST)
    group = create_group(api, mo)
    assert add_member(api, mo, group["id"], guest_id).status_code == 201
    path = f"/groups/{group['id']}/messages"
    posted = []
    for n in range(5):
        clock.advance(seconds=1)
        token = mo if n % 2 == 0 else guest
        response = post(api, token, path, f"message {n}")
        assert response.status_code == 201
        posted.append(response.json_body)
    assert posted[0] == {
        "id": posted[0]["id"],
        "author": {"id": mo_id, "name": "Mo Member"},
        "text": "message 0",
        "files": [],
        "created_at": "2026-11-24T12:00:01Z",
    }
    assert posted[1]["author"]["id"] == guest_id
    first = api.call("GET", f"{path}?limit=2", token=guest).json_body
    assert [m["text"] for m in first["items"]] == ["message 4", "message 3"]
    assert first["items"] == list(reversed(posted))[:2]
    second = api.call("GET", f"{path}?limit=2&cursor={first['next_cursor']}", token=guest).json_body
    assert [m["text"] for m in second["items"]] == ["message 2", "message 1"]
    third = api.call("GET", f"{path}?limit=2&cursor={second['next_cursor']}", token=guest).json_body
    assert [m["text"] for m in third["items"]] == ["message 0"] and third["next_cursor"] is None
    # stored: one item in the group's message partition, in the author's index too
    stored = Table().get(keys.group_messages_pk("acme", group["id"]), posted[0]["id"])
    assert stored is not None
    assert stored["author_id"] == mo_id and stored["text"] == "message 0" and stored["file_ids"] == []
    assert (stored["gsi1pk"], stored["gsi1sk"]) == (keys.user_messages_gsi1pk("acme", mo_id), posted[0]["id"])


def test_message_text_is_limited(api: Api) -> None:
    admin = api.admin_token()
    group = create_group(api, admin)
    path = f"/groups/{group['id']}/messages"
    assert error_of(post(api, admin, path, "x" * 40_001)) == (400, "text_too_long")
    assert error_of(post(api, admin, path, "   ")) == (400, "missing_field")
    assert error_of(api.call("POST", path, {}, token=admin)) == (400, "missing_field")
    assert error_of(api.call("POST", path, {"text": 5}, token=admin)) == (400, "invalid_field")
    assert error_of(api.call("POST", path, {"text": "x", "file_ids": "f"}, token=admin)) == (
        400,
        "invalid_field",
    )
    longest = post(api, admin, path, "é" * 40_000)
    assert longest.status_code == 201 and len(longest.json_body["text"]) == 40_000
    assert [m["id"] for m in api.call("GET", path, token=admin).json_body["items"]] == [
        longest.json_body["id"]
    ]


def test_only_members_post_and_read_messages(api: Api) -> None:
    admin = api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    group = create_group(api, mo)
    path = f"/groups/{group['id']}/messages"
    assert post(api, mo, path, "members only").status_code == 201
    for token in (eve, admin):  # a domain admin reads messages only as a member
        assert error_of(post(api, token, path, "let me in")) == (404, "group_not_found")
        assert error_of(api.call("POST", path, {}, token=token)) == (404, "group_not_found")  # 404 before 400
        assert error_of(api.call("GET", path, token=token)) == (404, "group_not_found")
    assert error_of(api.call("GET", "/groups/nope/messages", token=mo)) == (404, "group_not_found")
    # a member who is removed stops reading at once
    assert add_member(api, mo, group["id"], eve_id).status_code == 201
    assert [m["text"] for m in api.call("GET", path, token=eve).json_body["items"]] == ["members only"]
    assert api.call("DELETE", f"/groups/{group['id']}/members/{eve_id}", token=mo).status_code == 204
    assert error_of(api.call("GET", path, token=eve)) == (404, "group_not_found")


def test_a_message_cursor_pages_only_its_own_group(api: Api, clock: Any) -> None:
    admin = api.admin_token()
    first, second = create_group(api, admin, "One"), create_group(api, admin, "Two")
    for _ in range(3):
        clock.advance(seconds=1)
        assert post(api, admin, f"/groups/{first['id']}/messages", "hi").status_code == 201
    cursor = api.call("GET", f"/groups/{first['id']}/messages?limit=1", token=admin).json_body["next_cursor"]
    assert cursor
    wrong = api.call("GET", f"/groups/{second['id']}/messages?cursor={cursor}", token=admin)
    assert error_of(wrong) == (400, "invalid_cursor")
