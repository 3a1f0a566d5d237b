"""Defects found in review, each pinned by the behaviour the contract asks for."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.core import ids
from chalicelib.core.errors import Conflict
from chalicelib.domain.models import Role
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.users import UserRepository
from chalicelib.services.transaction import Transaction
from tests.conftest import Api, error_of
from tests.integration.factories import add_user
from tests.integration.tenancy_content import add_member, create_group, sign_in


def test_a_lone_surrogate_in_a_string_is_a_400_not_a_500(api: Api) -> None:
    token = api.admin_token("acme")
    raw = '{"name": "\\ud800"}'
    assert error_of(api.call("POST", "/groups", raw, token=token)) == (400, "invalid_json")
    login = '{"domain": "acme", "email": "a@acme.example", "password": "\\udfff long enough"}'
    assert error_of(api.call("POST", "/auth/login", login)) == (400, "invalid_json")


@pytest.mark.parametrize(
    "key",
    [
        {"pk": {"S": "D#acme#ROSTER"}},
        {"pk": {"S": "D#acme#ROSTER"}, "sk": {"N": "5"}},
        {"pk": {"S": "D#acme#ROSTER"}, "sk": {"S": "x"}, "extra": {"S": "y"}},
    ],
)
def test_a_cursor_must_be_a_whole_key_of_the_list(api: Api, key: dict[str, Any]) -> None:
    token = api.admin_token("acme")
    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")
    assert error_of(api.call("GET", f"/admin/users?cursor={cursor}", token=token)) == (400, "invalid_cursor")


def test_a_change_made_from_a_stale_read_does_not_land(api: Api) -> None:
    api.admin_token("acme")
    member = add_user("acme", "mo@acme.example")
    table = Table()
    users = UserRepository(table)
    promoted = replace(member, role=Role.ADMIN)
    table.transact([users.save_op(promoted, member)])
    stale = Transaction(table)
    stale.add(users.save_op(replace(member, title="Nurse"), member), on_condition_failed=Conflict("stale"))
    with pytest.raises(Conflict):
        stale.commit()
    stored = users.get("acme", member.id)
    assert stored is not None and stored.role is Role.ADMIN


def test_a_guest_has_no_group_admin_powers_even_from_before(api: Api) -> None:
    admin = api.admin_token("acme")
    creator_id, creator = sign_in(api, "acme", "cr@acme.example")
    other_id, _ = sign_in(api, "acme", "ot@acme.example")
    group = create_group(api, creator)
    api.call("PATCH", f"/admin/users/{creator_id}", {"role": "guest"}, token=admin)
    creator = api.login("acme", email="cr@acme.example").json_body["token"]
    assert error_of(add_member(api, creator, group["id"], other_id)) == (403, "not_group_admin")


def test_a_guest_creating_a_group_hears_403_before_any_400(api: Api) -> None:
    api.admin_token("acme")
    _, guest = sign_in(api, "acme", "gu@acme.example", role=Role.GUEST)
    assert error_of(api.call("POST", "/groups", "not json", token=guest)) == (403, "guest_not_allowed")


def test_default_groups_are_capped(api: Api) -> None:
    token = api.admin_token("acme")
    for n in range(18):
        group = create_group(api, token, name=f"Team {n}")
        assert (
            api.call(
                "PUT", f"/admin/groups/{group['id']}/default", {"default": True}, token=token
            ).status_code
            == 200
        )
    one_more = create_group(api, token, name="One more")
    answer = api.call("PUT", f"/admin/groups/{one_more['id']}/default", {"default": True}, token=token)
    assert error_of(answer) == (409, "too_many_default_groups")
    created = api.call(
        "POST", "/admin/users", {"email": "x@acme.example", "first_name": "X", "last_name": "Y"}, token=token
    )
    assert created.status_code == 201


def test_bulk_counts_duplicate_ids_once(api: Api) -> None:
    token = api.admin_token("acme")
    same = [ids.new_id()] * 1001
    answer = api.call("POST", "/admin/users/bulk", {"action": "deactivate", "user_ids": same}, token=token)
    assert answer.status_code == 202 and answer.json_body["job"]["progress"]["total"] == 1
