"""§1 Platform: the operator's routes, guarded by X-Platform-Key."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Response

from chalicelib.api import paths
from chalicelib.api.http import json_body, json_response, platform_key_required
from chalicelib.api.views import domain_view, group_summary, user_view
from chalicelib.bootstrap import services
from chalicelib.domain import rules
from chalicelib.domain.models import Billing, Plan
from chalicelib.services.platform import AdminSpec, ProvisionRequest

bp = Blueprint(__name__)


@bp.route("/platform/domains", methods=["POST"])
@platform_key_required
def provision_domain() -> Response:
    body = json_body()
    admin = body.object("admin")
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


@bp.route("/platform/domains/{domain}", methods=["GET"])
@platform_key_required
def get_domain(domain: str) -> Response:
    return json_response(domain_view(services().platform.get(paths.domain_name(domain))))
