"""Tenancy checks of the device routes; test_tenancy.py gathers them."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import Api, error_of
from tests.integration.factories import add_user


def _globex_device(api: Api) -> tuple[str, str, str, str]:
    """acme's admin token, globex's admin token, globex's app token and its device's admin id."""
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    user = add_user("globex", "gil@globex.example")
    app = api.login("globex", email="gil@globex.example", client_kind="ios", device_id="gil-phone").json_body[
        "token"
    ]
    device_id = api.call("GET", f"/admin/users/{user.id}/devices", token=globex).json_body["items"][0]["id"]
    return acme, globex, app, device_id


def check_admin_device_routes(api: Api) -> None:
    acme, _, _, device_id = _globex_device(api)
    user_id = device_id.split("-", 1)[0]
    for action in ("disable", "enable", "wipe"):
        path = f"/admin/devices/{device_id}/{action}"
        assert error_of(api.call("POST", path, token=acme)) == (404, "device_not_found")
        assert error_of(api.call("POST", path)) == (401, "unauthenticated")
    assert error_of(api.call("GET", f"/admin/users/{user_id}/devices", token=acme)) == (404, "user_not_found")
    assert api.call("GET", "/admin/devices", token=acme).json_body["items"] == []
    assert api.call("GET", "/admin/devices?q=gil", token=acme).json_body["items"] == []
    assert error_of(api.call("GET", "/admin/devices")) == (401, "unauthenticated")


def check_app_routes(api: Api) -> None:
    _, _, app, _ = _globex_device(api)
    domain, rest = app.split(".", 1)
    forged = f"acme.{rest}"
    for method, path in (("GET", "/devices/current"), ("POST", "/devices/current/wiped")):
        assert error_of(api.call(method, path, token=forged)) == (401, "invalid_token")
        assert error_of(api.call(method, path)) == (401, "unauthenticated")
    assert domain == "globex"
    assert api.call("GET", "/devices/current", token=app).json_body["status"] == "active"


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/devices/current", "GET"): check_app_routes,
    ("/devices/current/wiped", "POST"): check_app_routes,
    ("/admin/devices", "GET"): check_admin_device_routes,
    ("/admin/users/{user_id}/devices", "GET"): check_admin_device_routes,
    ("/admin/devices/{device_id}/disable", "POST"): check_admin_device_routes,
    ("/admin/devices/{device_id}/enable", "POST"): check_admin_device_routes,
    ("/admin/devices/{device_id}/wipe", "POST"): check_admin_device_routes,
}
