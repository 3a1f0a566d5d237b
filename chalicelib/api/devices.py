"""§3 Devices: the app's heartbeat and wipe confirmation; the admin's User Devices page."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api import paths
from chalicelib.api.http import admin_only, device_heartbeat, json_response, query
from chalicelib.api.views import device_view, heartbeat_view, page
from chalicelib.bootstrap import services
from chalicelib.domain.devices import DeviceStatus
from chalicelib.domain.models import Principal

bp = Blueprint(__name__)


@bp.route("/devices/current", methods=["GET"])
@device_heartbeat
def current_device(principal: Principal) -> Response:
    return json_response(heartbeat_view(services().devices.current(principal)))


@bp.route("/devices/current/wiped", methods=["POST"])
@device_heartbeat
def device_wiped(principal: Principal) -> Response:
    return json_response(heartbeat_view(services().devices.confirm_wiped(principal)))


@bp.route("/admin/devices", methods=["GET"])
@admin_only
def list_devices(principal: Principal) -> Response:
    params = query()
    found, next_cursor = services().devices.search(
        principal, params.text("q"), params.choice("status", DeviceStatus), params.limit(), params.cursor()
    )
    return json_response(page([device_view(d) for d in found], next_cursor))


@bp.route("/admin/users/{user_id}/devices", methods=["GET"])
@admin_only
def user_devices(principal: Principal, user_id: str) -> Response:
    found = services().devices.of_user(principal, paths.user_id(user_id))
    return json_response(page([device_view(d) for d in found], None))


@bp.route("/admin/devices/{device_id}/disable", methods=["POST"])
@admin_only
def disable_device(principal: Principal, device_id: str) -> Response:
    return json_response(
        device_view(services().devices.act(principal, paths.device_admin_id(device_id), "disable"))
    )


@bp.route("/admin/devices/{device_id}/enable", methods=["POST"])
@admin_only
def enable_device(principal: Principal, device_id: str) -> Response:
    return json_response(
        device_view(services().devices.act(principal, paths.device_admin_id(device_id), "enable"))
    )


@bp.route("/admin/devices/{device_id}/wipe", methods=["POST"])
@admin_only
def wipe_device(principal: Principal, device_id: str) -> Response:
    return json_response(
        device_view(services().devices.act(principal, paths.device_admin_id(device_id), "wipe"))
    )
