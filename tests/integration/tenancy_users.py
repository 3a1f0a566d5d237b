"""Tenancy checks of the users, invitations, jobs and default-groups routes; test_tenancy.py
gathers them. Each proves that acme's admin reaches none of globex's objects (404, or nothing
listed) and that the route wants a token (401)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import aws
from tests.conftest import Api, error_of


def _setup(api: Api) -> tuple[str, str, dict[str, Any]]:
    """Two domains; globex has an invited user. Returns (acme token, globex token, that user)."""
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    user = api.call(
        "POST",
        "/admin/users",
        {"email": "gina@globex.example", "first_name": "Gina", "last_name": "Globex"},
        token=globex,
    ).json_body
    return acme, globex, user


def check_user_routes(api: Api) -> None:
    acme, _, user = _setup(api)
    uid = user["id"]
    for method, path, body in [
        ("GET", f"/admin/users/{uid}", None),
        ("PATCH", f"/admin/users/{uid}", {"first_name": "Hijacked"}),
        ("POST", f"/admin/users/{uid}/invite", None),
        ("POST", f"/admin/users/{uid}/deactivate", None),
        ("POST", f"/admin/users/{uid}/activate", None),
        ("GET", f"/admin/users/{uid}/deletion-preview", None),
        ("DELETE", f"/admin/users/{uid}", None),
    ]:
        assert error_of(api.call(method, path, body, token=acme)) == (404, "user_not_found"), path
        assert error_of(api.call(method, path, body)) == (401, "unauthenticated"), path


def check_user_lists(api: Api) -> None:
    acme, globex, _ = _setup(api)
    listed = [u["email"] for u in api.call("GET", "/admin/users", token=acme).json_body["items"]]
    assert listed == ["admin@acme.example"]
    searched = api.call("GET", "/admin/users?q=gina", token=acme).json_body["items"]
    assert searched == []
    created = api.call(
        "POST",
        "/admin/users",
        {"email": "gina@globex.example", "first_name": "G", "last_name": "A"},
        token=acme,
    )
    assert created.status_code == 201  # the same email is another person in another domain
    globex_list = [u["email"] for u in api.call("GET", "/admin/users", token=globex).json_body["items"]]
    assert sorted(globex_list) == ["admin@globex.example", "gina@globex.example"]
    assert error_of(api.call("GET", "/admin/users")) == (401, "unauthenticated")


def check_accept_invite(api: Api) -> None:
    _, globex, user = _setup(api)
    api.call("POST", f"/admin/users/{user['id']}/invite", token=globex)
    secret = "x" * 43
    forged = api.call(
        "POST",
        "/auth/accept-invite",
        {"token": f"acme.{user['id']}.{secret}", "password": "a long enough password"},
    )
    assert error_of(forged) == (401, "invalid_invite")
    assert api.client.http.get("/accept-invite").status_code == 200  # a static page, no data in it


def check_bulk(api: Api) -> None:
    acme, globex, user = _setup(api)
    answer = api.call(
        "POST", "/admin/users/bulk", {"action": "deactivate", "user_ids": [user["id"]]}, token=acme
    )
    assert answer.status_code == 202
    from chalicelib.bootstrap import services

    services().jobs.handle(
        {"kind": "users.bulk", "domain": "acme", "job_id": answer.json_body["job_id"], "checkpoint": ""}
    )
    job = api.call("GET", f"/admin/jobs/{answer.json_body['job_id']}", token=acme).json_body
    assert job["result"]["outcomes"] == {user["id"]: "not_found"}
    still = api.call("GET", f"/admin/users/{user['id']}", token=globex).json_body
    assert still["status"] == "invited"
    assert error_of(api.call("POST", "/admin/users/bulk", {"action": "delete", "user_ids": []})) == (
        401,
        "unauthenticated",
    )


def check_jobs_and_groups(api: Api) -> None:
    acme, globex, _ = _setup(api)
    globex_groups = api.call("GET", "/admin/groups", token=globex).json_body["items"]
    acme_groups = api.call("GET", "/admin/groups", token=acme).json_body["items"]
    assert {g["id"] for g in acme_groups}.isdisjoint({g["id"] for g in globex_groups})
    group_id = globex_groups[0]["id"]
    marked = api.call("PUT", f"/admin/groups/{group_id}/default", {"default": False}, token=acme)
    assert error_of(marked) == (404, "group_not_found")
    assert error_of(api.call("PUT", f"/admin/groups/{group_id}/default", {"default": False})) == (
        401,
        "unauthenticated",
    )
    api.call("PUT", f"/admin/groups/{group_id}/default", {"default": False}, token=globex)
    job = api.call("PUT", f"/admin/groups/{group_id}/default", {"default": True}, token=globex).json_body[
        "job"
    ]
    assert api.call("GET", f"/admin/jobs/{job['id']}", token=globex).status_code == 200
    assert error_of(api.call("GET", f"/admin/jobs/{job['id']}", token=acme)) == (404, "job_not_found")
    assert error_of(api.call("GET", f"/admin/jobs/{job['id']}")) == (401, "unauthenticated")
    assert error_of(api.call("GET", "/admin/groups")) == (401, "unauthenticated")


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/admin/users", "POST"): check_user_lists,
    ("/admin/users", "GET"): check_user_lists,
    ("/admin/users/{user_id}", "GET"): check_user_routes,
    ("/admin/users/{user_id}", "PATCH"): check_user_routes,
    ("/admin/users/{user_id}/invite", "POST"): check_user_routes,
    ("/admin/users/{user_id}/deactivate", "POST"): check_user_routes,
    ("/admin/users/{user_id}/activate", "POST"): check_user_routes,
    ("/admin/users/{user_id}/deletion-preview", "GET"): check_user_routes,
    ("/admin/users/{user_id}", "DELETE"): check_user_routes,
    ("/admin/users/bulk", "POST"): check_bulk,
    ("/auth/accept-invite", "POST"): check_accept_invite,
    ("/accept-invite", "GET"): check_accept_invite,
    ("/admin/jobs/{job_id}", "GET"): check_jobs_and_groups,
    ("/admin/groups", "GET"): check_jobs_and_groups,
    ("/admin/groups/{group_id}/default", "PUT"): check_jobs_and_groups,
}
