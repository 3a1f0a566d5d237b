"""Tenancy checks of the 2FA routes; test_tenancy.py gathers them. acme's admin reaches none of
globex's users or settings, and a challenge id edited to name another domain matches nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import aws
from tests.conftest import ADMIN_PASSWORD, Api, error_of


def _two_domains(api: Api) -> tuple[str, str]:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme"), api.admin_token("globex")


def check_settings(api: Api) -> None:
    acme, globex = _two_domains(api)
    body = {"two_factor": "email", "validity_days": 5}
    assert api.call("PUT", "/admin/settings/security", body, token=globex).status_code == 200
    assert api.call("GET", "/admin/settings/security", token=acme).json_body["two_factor"] == "off"
    assert (
        api.call("PUT", "/admin/settings/security", {**body, "validity_days": 9}, token=acme).status_code
        == 200
    )
    assert api.call("GET", "/admin/settings/security", token=globex).json_body["validity_days"] == 5
    for method in ("GET", "PUT"):
        assert error_of(api.call(method, "/admin/settings/security", body)) == (401, "unauthenticated")


def check_reset(api: Api) -> None:
    acme, globex = _two_domains(api)
    globex_admin = api.call("GET", "/me", token=globex).json_body["id"]
    path = f"/admin/users/{globex_admin}/2fa/reset"
    assert error_of(api.call("POST", path, token=acme)) == (404, "user_not_found")
    assert error_of(api.call("POST", path)) == (401, "unauthenticated")
    assert api.call("GET", "/me", token=globex).status_code == 200  # globex's token still works


def check_challenges(api: Api) -> None:
    _, globex = _two_domains(api)
    api.call("PUT", "/admin/settings/security", {"two_factor": "email", "validity_days": 0}, token=globex)
    login = {"domain": "globex", "email": "admin@globex.example", "password": ADMIN_PASSWORD}
    challenge: dict[str, Any] = api.call("POST", "/auth/login", login).json_body["challenge"]
    _, user_id, secret = challenge["id"].split(".")
    forged = f"acme.{user_id}.{secret}"
    for path, body in [
        ("/auth/2fa", {"challenge_id": forged, "code": "123456"}),
        ("/auth/2fa/resend", {"challenge_id": forged}),
    ]:
        assert error_of(api.call("POST", path, body)) == (401, "challenge_expired")


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/admin/settings/security", "GET"): check_settings,
    ("/admin/settings/security", "PUT"): check_settings,
    ("/admin/users/{user_id}/2fa/reset", "POST"): check_reset,
    ("/auth/2fa", "POST"): check_challenges,
    ("/auth/2fa/resend", "POST"): check_challenges,
}
