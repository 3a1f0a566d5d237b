"""§4 Domain administration (admins only). The audit log is the first of its pages."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import admin_only, json_response, query
from chalicelib.api.views import audit_view, page
from chalicelib.bootstrap import services
from chalicelib.domain.models import Principal

bp = Blueprint(__name__)


@bp.route("/admin/audit", methods=["GET"])
@admin_only
def list_audit(principal: Principal) -> Response:
    params = query()
    entries, next_cursor = services().audit.list(principal.domain, params.limit(), params.cursor())
    return json_response(page([audit_view(e) for e in entries], next_cursor))
