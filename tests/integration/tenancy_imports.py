"""Tenancy checks of the import routes; test_tenancy.py gathers them. acme's admin neither sees
nor acts on globex's imports, and a drop under imports/globex/ lands in globex only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import aws
from tests.conftest import Api, error_of


def check_imports(api: Api) -> None:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    started: dict[str, Any] = api.call("POST", "/admin/imports", {"mode": "skip"}, token=globex).json_body
    import_id = started["import_id"]
    assert f"imports/globex/{import_id}.csv" in started["upload_url"]
    for method, path in [
        ("GET", f"/admin/imports/{import_id}"),
        ("POST", f"/admin/imports/{import_id}/invite"),
    ]:
        assert error_of(api.call(method, path, token=acme)) == (404, "import_not_found"), path
        assert error_of(api.call(method, path)) == (401, "unauthenticated"), path
    assert api.call("GET", "/admin/imports", token=acme).json_body["items"] == []
    assert [i["id"] for i in api.call("GET", "/admin/imports", token=globex).json_body["items"]] == [
        import_id
    ]
    globex_page = api.call("GET", "/admin/imports?limit=1", token=globex).json_body
    assert globex_page["next_cursor"] is None or error_of(
        api.call("GET", f"/admin/imports?cursor={globex_page['next_cursor']}", token=acme)
    ) == (400, "invalid_cursor")
    for method in ("GET", "POST"):
        assert error_of(api.call(method, "/admin/imports", {})) == (401, "unauthenticated")


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/admin/imports", "POST"): check_imports,
    ("/admin/imports", "GET"): check_imports,
    ("/admin/imports/{import_id}", "GET"): check_imports,
    ("/admin/imports/{import_id}/invite", "POST"): check_imports,
}
