"""§5 Private chats over HTTP: the caller and one other user of the domain."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.models import Role, UserStatus
from chalicelib.repositories import keys
from chalicelib.repositories.chats import ChatRepository
from chalicelib.repositories.dynamo import Table
from tests.conftest import Api, error_of
from tests.integration.factories import add_user, set_user_status
from tests.integration.tenancy_content import post, sign_in


def _texts(api: Api, token: str, other: str, query: str = "") -> list[str]:
    response = api.call("GET", f"/chats/{other}/messages{query}", token=token)
    assert response.status_code == 200, response.body
    return [m["text"] for m in response.json_body["items"]]


def test_a_chat_is_the_same_from_both_sides(api: Api, clock: Any) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    first = post(api, mo, f"/chats/{eve_id}/messages", "hi Eve")
    assert first.status_code == 201
    assert first.json_body == {
        "id": first.json_body["id"],
        "author": {"id": mo_id, "name": "Mo Member"},
        "text": "hi Eve",
        "files": [],
        "created_at": "2026-11-24T12:00:00Z",
    }
    clock.advance(minutes=1)
    assert post(api, eve, f"/chats/{mo_id}/messages", "hi Mo").status_code == 201
    assert _texts(api, mo, eve_id) == ["hi Mo", "hi Eve"]
    answer = api.call("GET", f"/chats/{mo_id}/messages", token=eve).json_body
    assert [(m["author"]["id"], m["text"]) for m in answer["items"]] == [(eve_id, "hi Mo"), (mo_id, "hi Eve")]
    assert answer["next_cursor"] is None
    # one partition for the chat, named by the sorted ids; the author index on each message
    stored = Table().get(keys.chat_messages_pk("acme", eve_id, mo_id), first.json_body["id"])
    assert stored is not None and stored["text"] == "hi Eve"
    assert stored["gsi1pk"] == keys.user_messages_gsi1pk("acme", mo_id)
    # each side has a "chat of a user" item: created by the first message, moved by each
    chats = ChatRepository(Table())
    assert chats.partners_of("acme", mo_id) == [eve_id] and chats.partners_of("acme", eve_id) == [mo_id]
    mine = Table().get(keys.user_pk("acme", mo_id), keys.chat_of_user_sk(eve_id))
    assert mine is not None
    assert (mine["started_at"], mine["last_message_at"]) == (
        "2026-11-24T12:00:00.000Z",
        "2026-11-24T12:01:00.000Z",
    )
    assert mine["chat"] == keys.chat_pk("acme", mo_id, eve_id)


def test_chats_are_private_to_their_two_users(api: Api) -> None:
    admin = api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, _ = sign_in(api, "acme", "eve@acme.example")
    _, ann = sign_in(api, "acme", "ann@acme.example")
    assert post(api, mo, f"/chats/{eve_id}/messages", "just between us").status_code == 201
    # ann (and even the domain admin) only ever reach their own chat with mo or eve
    for token in (ann, admin):
        assert _texts(api, token, mo_id) == []
        assert _texts(api, token, eve_id) == []
    assert ChatRepository(Table()).partners_of("acme", mo_id) == [eve_id]


def test_chat_paging_newest_first(api: Api, clock: Any) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, _ = sign_in(api, "acme", "ann@acme.example")
    for n in range(5):
        clock.advance(seconds=1)
        assert (
            post(
                api, mo if n % 2 else eve, f"/chats/{eve_id if n % 2 else mo_id}/messages", f"m{n}"
            ).status_code
            == 201
        )
    page = api.call("GET", f"/chats/{eve_id}/messages?limit=3", token=mo).json_body
    assert [m["text"] for m in page["items"]] == ["m4", "m3", "m2"]
    assert _texts(api, mo, eve_id, f"?limit=3&cursor={page['next_cursor']}") == ["m1", "m0"]
    # the cursor of mo's chat with eve pages nothing else
    wrong = api.call("GET", f"/chats/{ann_id}/messages?cursor={page['next_cursor']}", token=mo)
    assert error_of(wrong) == (400, "invalid_cursor")
    assert _texts(api, eve, mo_id, f"?cursor={page['next_cursor']}") == [
        "m1",
        "m0",
    ]  # eve's side is the same chat


def test_the_other_user_must_be_another_user_of_the_domain(api: Api) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    assert error_of(post(api, mo, f"/chats/{mo_id}/messages", "me")) == (400, "cannot_chat_with_yourself")
    assert error_of(api.call("GET", f"/chats/{mo_id}/messages", token=mo)) == (
        400,
        "cannot_chat_with_yourself",
    )
    for unknown in ("01jd3x6f2q8k9m4n5p7r0s1t2v", "nobody"):
        assert error_of(post(api, mo, f"/chats/{unknown}/messages", "hi")) == (404, "user_not_found")
        assert error_of(api.call("GET", f"/chats/{unknown}/messages", token=mo)) == (404, "user_not_found")
    # 404 comes before the body is read
    assert error_of(api.call("POST", "/chats/nobody/messages", {}, token=mo)) == (404, "user_not_found")


def test_a_deactivated_users_chat_is_read_but_not_written(api: Api) -> None:
    api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    eve = add_user("acme", "eve@acme.example")
    assert post(api, mo, f"/chats/{eve.id}/messages", "before").status_code == 201
    set_user_status(eve, UserStatus.DEACTIVATED)
    assert error_of(post(api, mo, f"/chats/{eve.id}/messages", "after")) == (409, "user_deactivated")
    assert _texts(api, mo, eve.id) == ["before"]


def test_chat_bodies_are_checked_and_guests_chat_too(api: Api) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    guest_id, guest = sign_in(api, "acme", "guest@acme.example", role=Role.GUEST)
    path = f"/chats/{mo_id}/messages"
    assert error_of(post(api, guest, path, "x" * 40_001)) == (400, "text_too_long")
    assert error_of(api.call("POST", path, {"text": ""}, token=guest)) == (400, "missing_field")
    assert error_of(post(api, guest, path, "look", ["nope"])) == (400, "invalid_file")
    assert post(api, guest, path, "hello from a guest").status_code == 201
    assert _texts(api, mo, guest_id) == ["hello from a guest"]
