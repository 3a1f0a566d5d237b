"""Tenancy checks of the lists of issue 14 (the operator's domains, a domain's jobs, my chats, a
group's members); test_tenancy.py gathers them."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.tenancy_content import _acme_with_group, post, sign_in


def check_domain_list(api: Api) -> None:
    acme, _ = api.admin_token("acme"), api.admin_token("globex")
    # the operator's list: no domain's token reaches it, the key sees every domain
    assert error_of(api.call("GET", "/platform/domains", token=acme)) == (401, "invalid_platform_key")
    listed = api.call("GET", "/platform/domains", headers={"X-Platform-Key": PLATFORM_KEY}).json_body
    assert {d["domain"] for d in listed["items"]} == {"acme", "globex"}


def check_job_list(api: Api) -> None:
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    victim, _ = sign_in(api, "acme", "vic@acme.example")
    job_id = api.call("DELETE", f"/admin/users/{victim}", token=acme).json_body["job_id"]
    assert error_of(api.call("GET", "/admin/jobs")) == (401, "unauthenticated")
    assert [j["id"] for j in api.call("GET", "/admin/jobs", token=acme).json_body["items"]] == [job_id]
    assert api.call("GET", "/admin/jobs", token=globex).json_body["items"] == []
    # acme's cursor does not page globex's list
    second, _ = sign_in(api, "acme", "vic2@acme.example")
    assert api.call("DELETE", f"/admin/users/{second}", token=acme).status_code == 202
    cursor = api.call("GET", "/admin/jobs?limit=1", token=acme).json_body["next_cursor"]
    assert cursor
    assert error_of(api.call("GET", f"/admin/jobs?cursor={cursor}", token=globex)) == (400, "invalid_cursor")


def check_chat_list(api: Api) -> None:
    api.admin_token("acme")
    globex = api.admin_token("globex")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, _ = sign_in(api, "acme", "eve@acme.example")
    _, gus = sign_in(api, "globex", "gus@globex.example")
    assert post(api, mo, f"/chats/{eve_id}/messages", "acme only").status_code == 201
    assert error_of(post(api, gus, f"/chats/{mo_id}/messages", "x")) == (404, "user_not_found")
    assert error_of(api.call("GET", "/chats")) == (401, "unauthenticated")
    assert [c["user"]["id"] for c in api.call("GET", "/chats", token=mo).json_body["items"]] == [eve_id]
    for token in (gus, globex):
        assert api.call("GET", "/chats", token=token).json_body["items"] == []


def check_member_list(api: Api) -> None:
    acme, globex, member_id, group = _acme_with_group(api)
    path = f"/groups/{group['id']}/members"
    assert error_of(api.call("GET", path)) == (401, "unauthenticated")
    # globex's domain admin manages every globex group, and no acme group
    assert error_of(api.call("GET", path, token=globex)) == (404, "group_not_found")
    members = {m["user"]["id"] for m in api.call("GET", path, token=acme).json_body["items"]}
    assert member_id in members and len(members) == 2


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/platform/domains", "GET"): check_domain_list,
    ("/admin/jobs", "GET"): check_job_list,
    ("/chats", "GET"): check_chat_list,
    ("/groups/{group_id}/members", "GET"): check_member_list,
}
