"""§7 Bulk import of users from CSV (admins only): start an import (a presigned upload URL),
follow it, list them, and send the invitations of an import's new users."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import admin_only, json_body, json_response, query, reads_body
from chalicelib.api.views import import_view, job_view, page, presigned_upload_view
from chalicelib.bootstrap import services
from chalicelib.domain.imports import ImportMode
from chalicelib.domain.models import Principal
from chalicelib.services.imports import ImportOptions

bp = Blueprint(__name__)

MAX_DECLARED_SIZE = 2**53  # JSON's safe integers; the configured cap (413) is the real limit
IMPORT_CONTENT_TYPE = "text/csv"  # what ImportFiles.presign_put signs


@bp.route("/admin/imports", methods=["POST"])
@admin_only
@reads_body
def create_import(principal: Principal) -> Response:
    body = json_body(accepts=("mode", "send_invites", "dry_run", "size"))
    options = ImportOptions(
        mode=body.choice("mode", ImportMode, default=ImportMode.SKIP),
        send_invites=body.boolean("send_invites", default=False),
        dry_run=body.boolean("dry_run", default=False),
    )
    size = body.integer("size", minimum=1, maximum=MAX_DECLARED_SIZE, required=False)
    started = services().imports.create(principal, options, size)
    answer = presigned_upload_view(
        "import",
        started.record.id,
        started.upload_url,
        started.expires_at,
        content_type=IMPORT_CONTENT_TYPE,
        size=size,
        tagging=started.tagging,
        extras={"max_bytes": started.max_bytes, "import": import_view(started.record)},
    )
    return json_response(answer, 201)


@bp.route("/admin/imports", methods=["GET"])
@admin_only
def list_imports(principal: Principal) -> Response:
    params = query()
    records, next_cursor = services().imports.list_imports(principal, params.limit(), params.cursor())
    return json_response(page([import_view(r) for r in records], next_cursor))


@bp.route("/admin/imports/{import_id}", methods=["GET"])
@admin_only
def get_import(principal: Principal, import_id: str) -> Response:
    details = services().imports.get(principal, import_id)
    return json_response(
        {**import_view(details.record), "errors": details.errors, "report_url": details.report_url}
    )


@bp.route("/admin/imports/{import_id}/invite", methods=["POST"])
@admin_only
def invite_imported_users(principal: Principal, import_id: str) -> Response:
    record, job = services().imports.invite(principal, import_id)
    return json_response({**import_view(record), "job": job_view(job) if job else None}, 202)
