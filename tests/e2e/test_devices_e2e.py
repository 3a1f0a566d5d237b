"""End to end, playing the Android app against `make run`'s runner: login, heartbeat, disable,
enable, wipe, confirmation."""

from __future__ import annotations

import requests

from tests.e2e.conftest import Runner, admin_headers

PASSWORD = "the app user's passphrase"


def _app_login(runner: Runner) -> requests.Response:
    return requests.post(
        f"{runner.url}/auth/login",
        timeout=10,
        json={
            "domain": "demo",
            "email": "app.user@demo.local",
            "password": PASSWORD,
            "client": "android",
            "device": {
                "device_id": "e2e-install-42",
                "type": "android",
                "name": "Pixel 9",
                "os_version": "15",
                "app_version": "7.1.0",
            },
        },
    )


def test_the_app_and_the_admin_play_the_device_protocol(runner: Runner) -> None:
    admin = admin_headers(runner)
    # a member of the demo domain, with a password (invited, then accepted through the link's token)
    from tests.e2e.test_users_e2e import _invite_and_accept

    _invite_and_accept(runner, admin, "app.user@demo.local", password=PASSWORD)
    first = _app_login(runner)
    assert first.status_code == 200, first.text
    app = {"Authorization": f"Bearer {first.json()['token']}"}
    assert requests.get(f"{runner.url}/devices/current", headers=app, timeout=10).json() == {
        "status": "active",
        "action": None,
    }

    found = requests.get(f"{runner.url}/admin/devices?q=app.user", headers=admin, timeout=10).json()["items"]
    assert [d["device_id"] for d in found] == ["e2e-install-42"]
    device = found[0]
    assert device["name"] == "Pixel 9" and device["last_activity"]

    off = requests.post(f"{runner.url}/admin/devices/{device['id']}/disable", headers=admin, timeout=10)
    assert off.json()["status"] == "disabled"
    refused = requests.get(f"{runner.url}/me", headers=app, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "device_disabled"
    assert (
        requests.get(f"{runner.url}/devices/current", headers=app, timeout=10).json()["status"] == "disabled"
    )

    on = requests.post(f"{runner.url}/admin/devices/{device['id']}/enable", headers=admin, timeout=10)
    assert on.json()["status"] == "active"
    assert (
        requests.get(f"{runner.url}/me", headers=app, timeout=10).status_code == 401
    )  # old token stays dead
    second = _app_login(runner)
    assert second.status_code == 200
    app = {"Authorization": f"Bearer {second.json()['token']}"}
    assert requests.get(f"{runner.url}/me", headers=app, timeout=10).status_code == 200

    wipe = requests.post(f"{runner.url}/admin/devices/{device['id']}/wipe", headers=admin, timeout=10)
    assert wipe.json()["status"] == "wipe_pending"
    assert requests.get(f"{runner.url}/devices/current", headers=app, timeout=10).json() == {
        "status": "wipe_pending",
        "action": "wipe",
    }
    done = requests.post(f"{runner.url}/devices/current/wiped", headers=app, timeout=10)
    assert done.json() == {"status": "wiped", "action": None}
    assert requests.get(f"{runner.url}/devices/current", headers=app, timeout=10).status_code == 401
    listed = requests.get(f"{runner.url}/admin/devices?q=app.user", headers=admin, timeout=10).json()["items"]
    assert listed[0]["status"] == "wiped"
