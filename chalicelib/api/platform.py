"""§1 Platform: the operator's routes, guarded by X-Platform-Key."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import paths
from chalicelib.api.http import json_body, json_response, platform_key_required, query, reads_body
from chalicelib.api.views import domain_view, group_summary, job_view, page, user_view
from chalicelib.bootstrap import services
from chalicelib.domain import rules
from chalicelib.domain.models import Billing, DomainStatus, Plan
from chalicelib.services.platform import AdminSpec, ProvisionRequest, TermsChange

bp = Blueprint(__name__)


@bp.route("/platform/domains", methods=["POST"])
@platform_key_required
@reads_body
def provision_domain() -> Response:
    body = json_body(accepts=("domain", "plan", "billing", "seats", "hipaa", "admin"))
    admin = body.object("admin", accepts=("email", "first_name", "last_name", "password"))
    request = ProvisionRequest(
        domain=body.required_string("domain", max_length=63),
        plan=body.choice("plan", Plan),
        billing=body.choice("billing", Billing),
        seats=body.integer("seats", minimum=1, maximum=rules.MAX_SEATS, required=False),
        hipaa=body.boolean("hipaa", default=False),
        admin=AdminSpec(
            email=admin.required_string("email", max_length=rules.MAX_EMAIL_LENGTH),
            first_name=admin.required_string("first_name", max_length=100),
            last_name=admin.required_string("last_name", max_length=100),
            password=admin.secret("password"),
        ),
    )
    provisioned = services().platform.provision(request)
    answer: dict[str, Any] = {
        **domain_view(provisioned.domain),
        "admin": user_view(provisioned.admin, provisioned.domain.security),
        "default_groups": [group_summary(g) for g in provisioned.groups],
    }
    return json_response(answer, 201)


@bp.route("/platform/domains", methods=["GET"])
@platform_key_required
def list_domains() -> Response:
    params = query()
    domains, next_cursor = services().platform.list_domains(
        params.choice("status", DomainStatus), params.limit(), params.cursor()
    )
    return json_response(page([domain_view(d) for d in domains], next_cursor))


@bp.route("/platform/domains/{domain}", methods=["GET"])
@platform_key_required
def get_domain(domain: str) -> Response:
    return json_response(domain_view(services().platform.get(paths.domain_name(domain))))


@bp.route("/platform/domains/{domain}/suspend", methods=["POST"])
@platform_key_required
def suspend_domain(domain: str) -> Response:
    suspended = services().platform.set_status(paths.domain_name(domain), DomainStatus.SUSPENDED)
    return json_response(domain_view(suspended))


@bp.route("/platform/domains/{domain}/resume", methods=["POST"])
@platform_key_required
def resume_domain(domain: str) -> Response:
    return json_response(
        domain_view(services().platform.set_status(paths.domain_name(domain), DomainStatus.ACTIVE))
    )


@bp.route("/platform/domains/{domain}", methods=["DELETE"])
@platform_key_required
def delete_domain(domain: str) -> Response:
    job = services().platform.delete(paths.domain_name(domain))
    return json_response({"job_id": job.id, "job": job_view(job)}, 202)


@bp.route("/platform/jobs/{job_id}", methods=["GET"])
@platform_key_required
def get_platform_job(job_id: str) -> Response:
    return json_response(job_view(services().platform.job(job_id)))


@bp.route("/platform/domains/{domain}", methods=["PATCH"])
@platform_key_required
@reads_body
def change_domain(domain: str) -> Response:
    name = paths.domain_name(domain)
    body = json_body(accepts=("plan", "billing", "seats", "hipaa"))
    change = TermsChange(
        plan=body.optional_choice("plan", Plan),
        billing=body.optional_choice("billing", Billing),
        seats=body.integer("seats", minimum=1, maximum=rules.MAX_SEATS, required=False),
        hipaa=body.optional_boolean("hipaa"),
    )
    return json_response(domain_view(services().platform.change_terms(name, change)))
