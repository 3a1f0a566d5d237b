"""§3 Devices through the routes: the app's login and heartbeat, the admin's device page."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.models import Role
from tests.conftest import Api, error_of
from tests.integration.factories import add_user


@pytest.fixture
def admin(api: Api) -> str:
    return api.admin_token("acme")


def app_login(api: Api, email: str = "mo@acme.example", device_id: str = "install-1") -> Any:
    return api.login("acme", email=email, client_kind="android", device_id=device_id)


def device_of(api: Api, admin: str, email: str = "mo@acme.example") -> dict[str, Any]:
    items = api.call("GET", f"/admin/devices?q={email.split('@', maxsplit=1)[0]}", token=admin).json_body[
        "items"
    ]
    assert len(items) == 1, items
    return dict(items[0])


def test_an_app_login_needs_its_device_and_registers_it(api: Api, admin: str) -> None:
    add_user("acme", "mo@acme.example")
    bare = api.call(
        "POST",
        "/auth/login",
        {
            "domain": "acme",
            "email": "mo@acme.example",
            "password": "correct horse battery staple",
            "client": "ios",
        },
    )
    assert error_of(bare) == (400, "device_required")
    login = app_login(api)
    assert login.status_code == 200
    device = device_of(api, admin)
    assert device["device_id"] == "install-1" and device["status"] == "active"
    assert device["user"]["email"] == "mo@acme.example" and device["user"]["name"] == "Mo Member"
    assert (device["type"], device["name"], device["os_version"], device["app_version"]) == (
        "android",
        "Test phone",
        "14",
        "3.2.1",
    )
    assert device["last_activity"] == "2026-11-24T12:00:00Z"
    heartbeat = api.call("GET", "/devices/current", token=login.json_body["token"])
    assert heartbeat.json_body == {"status": "active", "action": None}


def test_one_physical_device_of_two_users_is_two_records(api: Api, admin: str) -> None:
    add_user("acme", "mo@acme.example")
    add_user("acme", "jo@acme.example")
    app_login(api, "mo@acme.example", "shared-tablet")
    app_login(api, "jo@acme.example", "shared-tablet")
    items = api.call("GET", "/admin/devices", token=admin).json_body["items"]
    assert sorted(i["user"]["email"] for i in items) == ["jo@acme.example", "mo@acme.example"]
    assert len({i["id"] for i in items}) == 2


def test_disable_cuts_every_call_but_the_heartbeat_and_old_tokens_never_return(
    api: Api, admin: str, clock: Any
) -> None:
    add_user("acme", "mo@acme.example")
    token = app_login(api).json_body["token"]
    device_id = device_of(api, admin)["id"]
    disabled = api.call("POST", f"/admin/devices/{device_id}/disable", token=admin)
    assert disabled.status_code == 200 and disabled.json_body["status"] == "disabled"
    again = api.call("POST", f"/admin/devices/{device_id}/disable", token=admin)
    assert again.json_body == disabled.json_body
    assert error_of(api.call("GET", "/me", token=token)) == (403, "device_disabled")
    assert api.call("GET", "/devices/current", token=token).json_body == {
        "status": "disabled",
        "action": None,
    }
    assert error_of(app_login(api)) == (403, "device_disabled")
    assert api.call("POST", f"/admin/devices/{device_id}/enable", token=admin).json_body["status"] == "active"
    assert error_of(api.call("GET", "/me", token=token)) == (401, "invalid_token")
    assert error_of(api.call("GET", "/devices/current", token=token)) == (401, "invalid_token")
    assert error_of(api.call("POST", "/devices/current/wiped", token=token)) == (401, "invalid_token")
    fresh = app_login(api).json_body["token"]
    assert api.call("GET", "/me", token=fresh).status_code == 200
    actions = [e["action"] for e in api.call("GET", "/admin/audit", token=admin).json_body["items"]]
    assert actions[:2] == ["device.enabled", "device.disabled"]


def test_wipe_reaches_the_app_which_confirms_and_its_tokens_die(api: Api, admin: str) -> None:
    add_user("acme", "mo@acme.example")
    token = app_login(api).json_body["token"]
    device_id = device_of(api, admin)["id"]
    api.call("POST", f"/admin/devices/{device_id}/disable", token=admin)
    wiping = api.call("POST", f"/admin/devices/{device_id}/wipe", token=admin)
    assert wiping.json_body["status"] == "wipe_pending"
    assert error_of(api.call("POST", f"/admin/devices/{device_id}/enable", token=admin)) == (
        409,
        "wipe_pending",
    )
    assert error_of(api.call("GET", "/me", token=token)) == (403, "device_wipe_required")
    assert error_of(app_login(api)) == (403, "device_wipe_required")
    assert api.call("GET", "/devices/current", token=token).json_body == {
        "status": "wipe_pending",
        "action": "wipe",
    }
    confirmed = api.call("POST", "/devices/current/wiped", token=token)
    assert confirmed.json_body == {"status": "wiped", "action": None}
    assert error_of(api.call("GET", "/devices/current", token=token)) == (401, "invalid_token")
    assert device_of(api, admin)["status"] == "wiped"
    relogin = app_login(api)
    assert relogin.status_code == 200
    assert device_of(api, admin)["status"] == "active"


def test_a_device_bound_request_costs_one_aws_call_like_any_other(api: Api, admin: str, clock: Any) -> None:
    add_user("acme", "mo@acme.example")
    token = app_login(api).json_body["token"]
    from chalicelib.core import aws

    calls: list[str] = []
    client = aws.dynamodb()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    try:
        api.call("GET", "/me", token=token)
        api.call("GET", "/me", token=admin)
        assert calls == ["BatchGetItem", "BatchGetItem"]
        calls.clear()
        clock.advance(seconds=61)
        api.call("GET", "/me", token=token)
        assert calls == ["BatchGetItem", "UpdateItem"]  # last_activity, once a minute
    finally:
        client.meta.events.unregister("before-call.dynamodb.*")


def test_listing_filters_and_other_domains(api: Api, admin: str) -> None:
    add_user("acme", "mo@acme.example")
    add_user("acme", "zed@acme.example", role=Role.GUEST)
    app_login(api, "mo@acme.example")
    app_login(api, "zed@acme.example", "zed-phone")
    device_id = device_of(api, admin, "zed@acme.example")["id"]
    api.call("POST", f"/admin/devices/{device_id}/disable", token=admin)
    disabled = api.call("GET", "/admin/devices?status=disabled", token=admin).json_body["items"]
    assert [d["user"]["email"] for d in disabled] == ["zed@acme.example"]
    me = api.call("GET", "/me", token=admin).json_body["id"]
    assert api.call("GET", f"/admin/users/{me}/devices", token=admin).json_body["items"] == []
    globex = api.admin_token("globex")
    assert error_of(api.call("POST", f"/admin/devices/{device_id}/enable", token=globex)) == (
        404,
        "device_not_found",
    )
    assert api.call("GET", "/admin/devices", token=globex).json_body["items"] == []
    assert error_of(api.call("GET", "/admin/devices?status=lost", token=admin)) == (400, "invalid_enum")
    assert error_of(api.call("POST", "/admin/devices/not-an-id/disable", token=admin)) == (
        404,
        "device_not_found",
    )
    assert error_of(api.call("GET", "/devices/current", token=admin)) == (404, "device_not_found")


def test_deletion_removes_devices_but_never_one_that_must_wipe(api: Api, admin: str, client: Any) -> None:
    from tests.integration.test_user_deletion import drain_jobs

    mo = add_user("acme", "mo@acme.example")
    app_login(api, device_id="phone")
    app_login(api, device_id="tablet")
    devices = api.call("GET", f"/admin/users/{mo.id}/devices", token=admin).json_body["items"]
    tablet = next(d for d in devices if d["device_id"] == "tablet")
    api.call("POST", f"/admin/devices/{tablet['id']}/wipe", token=admin)
    preview = api.call("GET", f"/admin/users/{mo.id}/deletion-preview", token=admin).json_body
    assert preview["devices"] == 2
    api.call("DELETE", f"/admin/users/{mo.id}", token=admin)
    drain_jobs(client)
    left = api.call("GET", "/admin/devices", token=admin).json_body["items"]
    assert [(d["device_id"], d["status"]) for d in left] == [("tablet", "wipe_pending")]


def test_members_get_403_on_the_device_admin_routes(api: Api, admin: str) -> None:
    mo = add_user("acme", "mo@acme.example")
    member = app_login(api).json_body["token"]
    device_id = device_of(api, admin)["id"]
    for method, path in [
        ("GET", "/admin/devices"),
        ("GET", f"/admin/users/{mo.id}/devices"),
        ("POST", f"/admin/devices/{device_id}/disable"),
        ("POST", f"/admin/devices/{device_id}/enable"),
        ("POST", f"/admin/devices/{device_id}/wipe"),
    ]:
        assert error_of(api.call(method, path, token=member)) == (403, "forbidden"), path
    assert device_of(api, admin)["status"] == "active"
