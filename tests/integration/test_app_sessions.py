"""API.md §2, security review item 2: app sessions skip 2FA, so where 2FA is on they never reach
/admin/* (403 `two_factor_required`, after the 401 of a missing token); web, desktop and mac
sessions from before 2FA was switched on keep working; a device new to the user is announced
to the user by email, once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.domain.models import Role
from chalicelib.notifications.email import Email, EmailSender
from chalicelib.repositories.sessions import SessionRepository, SignInRead
from tests.conftest import Api, error_of
from tests.integration.factories import add_user, sent_emails

ADMIN_EMAIL = "admin@acme.example"
NOTICE_SUBJECT = "A new device signed in to your Office Chat account"


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def set_security(api: Api, token: str, method: str) -> None:
    body = {"two_factor": method, "validity_days": 0}
    assert api.call("PUT", "/admin/settings/security", body, token=token).status_code == 200


def app_token(
    api: Api, client_kind: str = "android", email: str = ADMIN_EMAIL, device_id: str = "p-1"
) -> str:
    response = api.login("acme", email=email, client_kind=client_kind, device_id=device_id)
    assert response.status_code == 200, response.body
    assert response.json_body["status"] == "ok"  # the apps are never challenged
    return str(response.json_body["token"])


def admin_routes() -> list[tuple[str, str]]:
    from app import app

    found = [
        (method, path)
        for path, entries in app.routes.items()
        if path.startswith("/admin")
        for method in entries
    ]
    assert len(found) >= 25, found  # the whole of §4 and §3's admin half, not an empty walk
    return sorted(found)


def concrete(path: str) -> str:
    """A path with made-up ids: the 403 comes before any lookup, as the order of checks says."""
    return re.sub(r"\{[^}]+\}", "01ABCDEFGHJKMNPQRSTVWXYZ0", path)


def notices(to: str = ADMIN_EMAIL) -> list[dict[str, Any]]:
    return [m for m in sent_emails() if m["subject"] == NOTICE_SUBJECT and to in m["to"]]


# --- /admin/* is out of an app session's reach where 2FA is on ----------------------------------


@pytest.mark.parametrize("client_kind", ["android", "ios"])
def test_every_admin_route_refuses_an_app_session_where_2fa_is_on(
    api: Api, admin: str, client_kind: str
) -> None:
    set_security(api, admin, "email")
    token = app_token(api, client_kind)
    for method, path in admin_routes():
        url = concrete(path)
        assert error_of(api.call(method, url, {})) == (401, "unauthenticated"), (method, path)
        refused = api.call(method, url, {}, token=token)
        assert error_of(refused) == (403, "two_factor_required"), (method, path, refused.body)
    assert api.call("GET", "/me", token=token).status_code == 200  # the app itself still works
    assert api.call("GET", "/groups", token=token).status_code == 200
    assert api.call("GET", "/devices/current", token=token).status_code == 200


def test_the_refusal_starts_when_2fa_is_switched_on_and_ends_when_it_is_off(api: Api, admin: str) -> None:
    token = app_token(api)
    assert api.call("GET", "/admin/users", token=token).status_code == 200  # 2FA off: allowed
    set_security(api, admin, "totp")
    assert error_of(api.call("GET", "/admin/users", token=token)) == (403, "two_factor_required")
    set_security(api, admin, "off")
    assert api.call("GET", "/admin/users", token=token).status_code == 200


def test_a_members_app_session_is_refused_as_a_member(api: Api, admin: str) -> None:
    add_user("acme", "mo@acme.example", role=Role.MEMBER)
    set_security(api, admin, "email")
    token = app_token(api, email="mo@acme.example")
    assert error_of(api.call("GET", "/admin/users", token=token)) == (403, "forbidden")


def test_sessions_from_before_2fa_was_switched_on_keep_working(api: Api, admin: str) -> None:
    """The admin who switches 2FA on is not locked out mid-task, nor are the admin's desktop and
    Mac apps: sessions that began before keep working until they end."""
    desktop = api.login("acme", client_kind="desktop").json_body["token"]
    mac = api.login("acme", client_kind="mac").json_body["token"]
    set_security(api, admin, "email")
    for token in (admin, desktop, mac):
        assert api.call("GET", "/admin/users", token=token).status_code == 200
    set_security(api, admin, "totp")  # the same web session goes on administering
    assert api.call("GET", "/admin/settings/security", token=admin).json_body["two_factor"] == "totp"
    # a new web login is challenged: that is where administration needs its second factor now
    assert api.login("acme").json_body["status"] == "2fa_required"


# --- the new-device notice ----------------------------------------------------------------------


def test_a_device_new_to_the_user_is_announced_once(api: Api, admin: str) -> None:
    app_token(api, "android", device_id="pixel-1")
    first = notices()
    assert len(first) == 1
    text = first[0]["body"]
    assert "Device type: android" in text
    assert "Device name: Test phone" in text
    assert "2026-11-24T12:00:00Z" in text
    assert "If this was not you, tell your administrator" in text
    app_token(api, "android", device_id="pixel-1")  # the same device again: no notice
    assert len(notices()) == 1
    app_token(api, "ios", device_id="iphone-1")  # another device: another notice
    both = notices()
    assert len(both) == 2 and "Device type: ios" in both[1]["body"]
    assert notices("mo@acme.example") == []


def test_a_web_login_sends_no_notice(api: Api, admin: str) -> None:
    assert api.login("acme").status_code == 200
    assert notices() == []


def test_two_first_logins_of_one_device_send_one_notice(
    api: Api, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both logins read "no such device" (as two at the same moment would); "new" is decided by
    the conditional write of the device, so only the one that wrote it announces it."""
    real = SessionRepository.load_sign_in

    def unseen(repo: SessionRepository, *args: Any, **kwargs: Any) -> SignInRead:
        read = real(repo, *args, **kwargs)
        return SignInRead(user=read.user, device=None, trusted=read.trusted)

    monkeypatch.setattr(SessionRepository, "load_sign_in", unseen)
    app_token(api, device_id="pixel-2")
    second = api.login("acme", client_kind="android", device_id="pixel-2")
    assert error_of(second) == (409, "concurrent_change")
    assert len(notices()) == 1


def test_a_failed_notice_does_not_fail_the_login(
    api: Api, admin: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(sender: EmailSender, email: Email) -> str:
        raise RuntimeError("SES is down")

    monkeypatch.setattr(EmailSender, "send", broken)
    token = app_token(api, device_id="pixel-3")
    assert api.call("GET", "/devices/current", token=token).status_code == 200
    assert "new-device notice not sent" in caplog.text
