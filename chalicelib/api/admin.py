"""§4 Domain administration (admins only): the audit log, jobs, the domain's groups and their
default flag, and the security settings (2FA)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import admin_only, json_body, json_response, query, reads_body
from chalicelib.api.views import admin_group_view, audit_view, job_view, page, security_view
from chalicelib.bootstrap import services
from chalicelib.domain.models import Principal, TwoFactorMethod
from chalicelib.domain.two_factor import MAX_VALIDITY_DAYS
from chalicelib.services.jobs import JobStatus

bp = Blueprint(__name__)


@bp.route("/admin/audit", methods=["GET"])
@admin_only
def list_audit(principal: Principal) -> Response:
    params = query()
    entries, next_cursor = services().audit.list(principal.domain, params.limit(), params.cursor())
    return json_response(page([audit_view(e) for e in entries], next_cursor))


@bp.route("/admin/jobs", methods=["GET"])
@admin_only
def list_jobs(principal: Principal) -> Response:
    params = query()
    jobs, next_cursor = services().jobs.list_jobs(
        principal, params.choice("status", JobStatus), params.limit(), params.cursor()
    )
    return json_response(page([job_view(j) for j in jobs], next_cursor))


@bp.route("/admin/jobs/{job_id}", methods=["GET"])
@admin_only
def get_job(principal: Principal, job_id: str) -> Response:
    return json_response(job_view(services().jobs.get(principal, job_id)))


@bp.route("/admin/groups", methods=["GET"])
@admin_only
def list_domain_groups(principal: Principal) -> Response:
    params = query()
    groups, next_cursor = services().default_groups.list_groups(
        principal, params.flag("default"), params.limit(), params.cursor()
    )
    return json_response(page([admin_group_view(g) for g in groups], next_cursor))


@bp.route("/admin/groups/{group_id}/default", methods=["PUT"])
@admin_only
@reads_body
def set_default_group(principal: Principal, group_id: str) -> Response:
    services().default_groups.get(principal, group_id)  # 404 before the body is read
    default = json_body(accepts=("default",)).boolean("default")
    group, job = services().default_groups.set_default(principal, group_id, default)
    answer = {**admin_group_view(group), "job": job_view(job) if job else None}
    return json_response(answer, 202 if job and not job.finished else 200)


@bp.route("/admin/settings/security", methods=["GET"])
@admin_only
def get_security_settings(principal: Principal) -> Response:
    return json_response(security_view(services().two_factor.settings(principal)))


@bp.route("/admin/settings/security", methods=["PUT"])
@admin_only
@reads_body
def put_security_settings(principal: Principal) -> Response:
    body = json_body(accepts=("two_factor", "validity_days"))
    method = body.choice("two_factor", TwoFactorMethod)
    validity_days = body.integer("validity_days", minimum=0, maximum=MAX_VALIDITY_DAYS) or 0
    return json_response(
        security_view(services().two_factor.update_settings(principal, method, validity_days))
    )
