"""§8 Reporting a problem: any signed-in user reports, uploads the zipped logs, or sends the
report without them, and follows its status."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import any_user, json_body, json_response, reads_body
from chalicelib.api.views import presigned_upload_view, report_view
from chalicelib.bootstrap import services
from chalicelib.domain.models import Principal
from chalicelib.domain.reports import (
    LOGS_CONTENT_TYPE,
    MAX_APP_VERSION,
    MAX_DESCRIPTION,
    ReportingLevel,
    ReportPlatform,
)
from chalicelib.services.reports import NewReport

bp = Blueprint(__name__)


@bp.route("/support/reports", methods=["POST"])
@any_user
@reads_body
def create_report(principal: Principal) -> Response:
    def read() -> NewReport:
        body = json_body(accepts=("description", "platform", "app_version", "reporting_level"))
        return NewReport(
            description=body.required_string("description", max_length=MAX_DESCRIPTION),
            platform=body.choice("platform", ReportPlatform),
            app_version=body.required_string("app_version", max_length=MAX_APP_VERSION),
            reporting_level=body.choice("reporting_level", ReportingLevel),
        )

    upload = services().reports.create(principal, read)
    answer = presigned_upload_view(
        "report",
        upload.report.id,
        upload.url,
        upload.expires_at,
        content_type=LOGS_CONTENT_TYPE,
        size=None,
        tagging=upload.tagging,
        extras={"report": report_view(upload.report)},
    )
    return json_response(answer, 201)


@bp.route("/support/reports/{report_id}", methods=["GET"])
@any_user
def get_report(principal: Principal, report_id: str) -> Response:
    return json_response(report_view(services().reports.get(principal, report_id)))


@bp.route("/support/reports/{report_id}/submit", methods=["POST"])
@any_user
def submit_report(principal: Principal, report_id: str) -> Response:
    return json_response(report_view(services().reports.submit(principal, report_id)))
