"""GET /admin/audit: admins only, newest first, cursor paging."""

from datetime import timedelta
from typing import Any

from chalicelib.domain.models import AuditEntry, Role
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.dynamo import Table
from tests.conftest import Api, error_of
from tests.integration.factories import add_user


def _add_entries(domain: str, count: int, clock: Any) -> None:
    repository = AuditRepository(Table())
    for n in range(count):
        at = clock.now() + timedelta(minutes=n + 1)
        repository.append(domain, AuditEntry(at=at, actor="admin@x", action=f"test.{n}", target="t"))


def test_members_and_guests_may_not_read_the_audit_log(api: Api) -> None:
    api.provision("acme")
    for role, email in ((Role.MEMBER, "mo@acme.example"), (Role.GUEST, "gus@acme.example")):
        add_user("acme", email, role=role)
        token = api.login("acme", email=email).json_body["token"]
        assert error_of(api.call("GET", "/admin/audit", token=token)) == (403, "forbidden")


def test_audit_pages_newest_first(api: Api, clock: Any) -> None:
    token = api.admin_token("acme")
    _add_entries("acme", 5, clock)
    first = api.call("GET", "/admin/audit?limit=4", token=token).json_body
    assert [e["action"] for e in first["items"]] == ["test.4", "test.3", "test.2", "test.1"]
    assert first["next_cursor"]
    second = api.call("GET", f"/admin/audit?limit=4&cursor={first['next_cursor']}", token=token).json_body
    assert [e["action"] for e in second["items"]] == ["test.0", "domain.provisioned"]
    assert second["next_cursor"] is None


def test_bad_paging_parameters(api: Api) -> None:
    token = api.admin_token("acme")
    assert error_of(api.call("GET", "/admin/audit?limit=0", token=token)) == (400, "invalid_field")
    assert error_of(api.call("GET", "/admin/audit?cursor=bogus", token=token)) == (400, "invalid_cursor")
