"""Tenancy: nothing of one domain is visible or changeable from another, for every route.

ROUTE_CHECKS must name every route of the app: a new route fails
test_every_route_has_a_tenancy_check until its cross-domain behaviour is tested here."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from app import app
from chalicelib.domain.models import AuditEntry
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.dynamo import Table
from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.tenancy_content import ROUTE_CHECKS as content_checks
from tests.integration.tenancy_devices import ROUTE_CHECKS as device_checks
from tests.integration.tenancy_imports import ROUTE_CHECKS as import_checks
from tests.integration.tenancy_integrations import ROUTE_CHECKS as integration_checks
from tests.integration.tenancy_lists import ROUTE_CHECKS as list_checks
from tests.integration.tenancy_two_factor import ROUTE_CHECKS as two_factor_checks
from tests.integration.tenancy_users import ROUTE_CHECKS as user_checks


def _two_domains(api: Api) -> tuple[str, str]:
    return api.admin_token("acme"), api.admin_token("globex")


def check_me(api: Api) -> None:
    acme, globex = _two_domains(api)
    assert api.call("GET", "/me", token=acme).json_body["domain"] == "acme"
    # The token names its domain in the clear; pointing it at another domain matches nothing.
    _, user_id, secret = acme.split(".")
    forged = f"globex.{user_id}.{secret}"
    assert error_of(api.call("GET", "/me", token=forged)) == (401, "invalid_token")
    globex_user = globex.split(".")[1]
    assert error_of(api.call("GET", "/me", token=f"acme.{globex_user}.{secret}")) == (401, "invalid_token")


def check_logout(api: Api) -> None:
    acme, globex = _two_domains(api)
    _, user_id, secret = acme.split(".")
    assert error_of(api.call("POST", "/auth/logout", token=f"globex.{user_id}.{secret}")) == (
        401,
        "invalid_token",
    )
    assert api.call("GET", "/me", token=acme).status_code == 200
    assert api.call("GET", "/me", token=globex).status_code == 200


def check_login(api: Api) -> None:
    _two_domains(api)
    # acme's admin does not exist in globex, whatever the password
    assert error_of(api.login("globex", email="admin@acme.example")) == (401, "invalid_credentials")


def check_audit(api: Api) -> None:
    acme, globex = _two_domains(api)
    AuditRepository(Table()).append(
        "globex",
        AuditEntry(at=datetime(2026, 11, 24, 13, tzinfo=UTC), actor="x", action="globex.secret", target="t"),
    )
    acme_actions = [e["action"] for e in api.call("GET", "/admin/audit", token=acme).json_body["items"]]
    assert acme_actions == ["domain.provisioned"]
    assert all("acme" in e["target"] for e in api.call("GET", "/admin/audit", token=acme).json_body["items"])
    globex_page = api.call("GET", "/admin/audit?limit=1", token=globex).json_body
    assert globex_page["next_cursor"]
    stolen = api.call("GET", f"/admin/audit?cursor={globex_page['next_cursor']}", token=acme)
    assert error_of(stolen) == (400, "invalid_cursor")


def check_platform(api: Api) -> None:
    acme, _ = _two_domains(api)
    # Platform routes are the operator's: a domain admin's token reaches none of them.
    assert error_of(api.call("GET", "/platform/domains/globex", token=acme)) == (401, "invalid_platform_key")
    key = {"X-Platform-Key": PLATFORM_KEY}
    assert api.call("GET", "/platform/domains/globex", headers=key).json_body["domain"] == "globex"


def check_suspend_resume(api: Api) -> None:
    acme, globex = _two_domains(api)
    # A domain admin's token reaches neither; the operator's suspension of globex leaves acme alone.
    assert error_of(api.call("POST", "/platform/domains/globex/suspend", token=acme)) == (
        401,
        "invalid_platform_key",
    )
    key = {"X-Platform-Key": PLATFORM_KEY}
    assert api.call("POST", "/platform/domains/globex/suspend", headers=key).status_code == 200
    assert api.call("GET", "/me", token=acme).status_code == 200
    assert error_of(api.call("GET", "/me", token=globex)) == (403, "domain_suspended")
    assert api.call("POST", "/platform/domains/globex/resume", headers=key).status_code == 200
    assert api.call("GET", "/me", token=globex).status_code == 200


def check_platform_changes(api: Api) -> None:
    acme, _ = _two_domains(api)
    key = {"X-Platform-Key": PLATFORM_KEY}
    # A domain admin reaches neither the change nor the deletion of any domain, not even its own.
    for method, body in (("PATCH", {"seats": 99}), ("DELETE", None)):
        for name in ("acme", "globex"):
            answer = api.call(method, f"/platform/domains/{name}", body, token=acme)
            assert error_of(answer) == (401, "invalid_platform_key")
    assert api.call("PATCH", "/platform/domains/globex", {"seats": 99}, headers=key).status_code == 200
    assert api.call("GET", "/platform/domains/acme", headers=key).json_body["seats"]["total"] == 50
    api.call("POST", "/platform/domains/globex/suspend", headers=key)
    job_id = api.call("DELETE", "/platform/domains/globex", headers=key).json_body["job_id"]
    # the operator's job is no domain's: an admin's job routes do not know it
    assert error_of(api.call("GET", f"/admin/jobs/{job_id}", token=acme)) == (404, "job_not_found")
    assert api.call("GET", "/admin/jobs", token=acme).json_body["items"] == []
    assert error_of(api.call("GET", f"/platform/jobs/{job_id}", token=acme)) == (401, "invalid_platform_key")
    assert api.call("GET", "/platform/domains/acme", headers=key).json_body["status"] == "active"
    assert api.call("GET", "/me", token=acme).status_code == 200


def check_reports(api: Api) -> None:
    acme, globex = _two_domains(api)
    body = {"description": "It froze", "platform": "web", "app_version": "1.0", "reporting_level": "all"}
    report = api.call("POST", "/support/reports", body, token=globex).json_body
    assert report["upload_url"] and f"reports/globex/{report['report_id']}/logs.zip" in report["upload_url"]
    path = f"/support/reports/{report['report_id']}"
    assert error_of(api.call("GET", path, token=acme)) == (404, "report_not_found")
    assert error_of(api.call("POST", f"{path}/submit", token=acme)) == (404, "report_not_found")
    assert api.call("GET", path, token=globex).json_body["status"] == "awaiting_logs"


def check_health(api: Api) -> None:
    assert api.call("GET", "/health").json_body == {"status": "ok"}  # no domain data at all


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/me", "GET"): check_me,
    ("/auth/logout", "POST"): check_logout,
    ("/auth/login", "POST"): check_login,
    ("/admin/audit", "GET"): check_audit,
    ("/platform/domains", "POST"): check_platform,
    ("/platform/domains/{domain}", "GET"): check_platform,
    ("/platform/domains/{domain}/suspend", "POST"): check_suspend_resume,
    ("/support/reports", "POST"): check_reports,
    ("/support/reports/{report_id}", "GET"): check_reports,
    ("/support/reports/{report_id}/submit", "POST"): check_reports,
    ("/platform/domains/{domain}/resume", "POST"): check_suspend_resume,
    ("/platform/domains/{domain}", "PATCH"): check_platform_changes,
    ("/platform/domains/{domain}", "DELETE"): check_platform_changes,
    ("/platform/jobs/{job_id}", "GET"): check_platform_changes,
    ("/health", "GET"): check_health,
}


ROUTE_CHECKS.update(content_checks)
ROUTE_CHECKS.update(user_checks)
ROUTE_CHECKS.update(device_checks)
ROUTE_CHECKS.update(two_factor_checks)
ROUTE_CHECKS.update(import_checks)
ROUTE_CHECKS.update(list_checks)
ROUTE_CHECKS.update(integration_checks)


def test_every_route_has_a_tenancy_check() -> None:
    routes = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert routes == set(ROUTE_CHECKS)


@pytest.mark.parametrize("check", list(dict.fromkeys(ROUTE_CHECKS.values())), ids=lambda c: c.__name__)
def test_tenancy(client: Any, check: Callable[[Api], None]) -> None:
    check(Api(client))
