"""§4 the services page (`/admin/integrations`) and §6 a group's integrations, as its admins
configure them (`/groups/{id}/integrations/...`)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import admin_only, any_user, json_body, json_response, reads_body
from chalicelib.api.views import (
    audience_view,
    list_outcome_view,
    mailchimp_integration_view,
    page,
    service_view,
    slack_integration_view,
)
from chalicelib.bootstrap import services
from chalicelib.domain.integrations import MAILCHIMP_EVENTS, MAX_DISPLAY_NAME, MAX_MAILCHIMP_LISTS
from chalicelib.domain.models import Principal
from chalicelib.services.mailchimp import ListChoice
from chalicelib.services.slack import SlackChanges

bp = Blueprint(__name__)

SLACK = "/groups/{group_id}/integrations/slack"
MAILCHIMP = "/groups/{group_id}/integrations/mailchimp"


@bp.route("/admin/integrations", methods=["GET"])
@admin_only
def list_services(principal: Principal) -> Response:
    states = services().integrations.services_page(principal)
    return json_response({"services": [service_view(s) for s in states]})


@bp.route("/admin/integrations/{service}", methods=["PUT"])
@admin_only
@reads_body
def set_service(principal: Principal, service: str) -> Response:
    def read() -> bool:
        return json_body(accepts=("enabled",)).boolean("enabled")

    return json_response(service_view(services().integrations.set_enabled(principal, service, read)))


@bp.route(SLACK, methods=["POST"])
@any_user
@reads_body
def create_slack(principal: Principal, group_id: str) -> Response:
    def read() -> str:
        return json_body(accepts=("display_name",)).required_string(
            "display_name", max_length=4 * MAX_DISPLAY_NAME
        )

    slack = services().slack
    integration = slack.create(principal, group_id, read)
    return json_response(slack_integration_view(integration, slack.authorize_url(integration)), 201)


@bp.route(SLACK, methods=["GET"])
@any_user
def get_slack(principal: Principal, group_id: str) -> Response:
    slack = services().slack
    integration = slack.get(principal, group_id)
    return json_response(slack_integration_view(integration, slack.authorize_url(integration)))


@bp.route(SLACK, methods=["PATCH"])
@any_user
@reads_body
def update_slack(principal: Principal, group_id: str) -> Response:
    def read() -> SlackChanges:
        body = json_body(accepts=("display_name", "channel_id"))
        return SlackChanges(
            display_name=body.string(
                "display_name", required=False, max_length=4 * MAX_DISPLAY_NAME, allow_empty=True
            ),
            channel_id=body.string("channel_id", required=False, max_length=64),
        )

    slack = services().slack
    integration = slack.update(principal, group_id, read)
    return json_response(slack_integration_view(integration, slack.authorize_url(integration)))


@bp.route(SLACK, methods=["DELETE"])
@any_user
def delete_slack(principal: Principal, group_id: str) -> Response:
    services().slack.delete(principal, group_id)
    return Response(body="", status_code=204)


@bp.route(MAILCHIMP, methods=["POST"])
@any_user
def create_mailchimp(principal: Principal, group_id: str) -> Response:
    mailchimp = services().mailchimp
    integration = mailchimp.create(principal, group_id)
    return json_response(mailchimp_integration_view(integration, mailchimp.authorize_url(integration)), 201)


@bp.route(MAILCHIMP, methods=["GET"])
@any_user
def get_mailchimp(principal: Principal, group_id: str) -> Response:
    mailchimp = services().mailchimp
    integration = mailchimp.get(principal, group_id)
    return json_response(mailchimp_integration_view(integration, mailchimp.authorize_url(integration)))


@bp.route(f"{MAILCHIMP}/lists", methods=["GET"])
@any_user
def list_mailchimp_audiences(principal: Principal, group_id: str) -> Response:
    audiences = services().mailchimp.audiences(principal, group_id)
    return json_response(page([audience_view(a) for a in audiences], None))


@bp.route(MAILCHIMP, methods=["PUT"])
@any_user
@reads_body
def choose_mailchimp_audiences(principal: Principal, group_id: str) -> Response:
    def read() -> ListChoice:
        body = json_body(accepts=("list_ids", "events"))
        list_ids = body.string_list("list_ids", max_items=MAX_MAILCHIMP_LISTS, max_length=64)
        events = (
            body.string_list("events", max_items=len(MAILCHIMP_EVENTS), max_length=32)
            if body.has("events")
            else None
        )
        return ListChoice(list_ids=list_ids, events=events)

    mailchimp = services().mailchimp
    integration, outcomes = mailchimp.choose(principal, group_id, read)
    view = mailchimp_integration_view(integration, mailchimp.authorize_url(integration))
    return json_response({**view, "results": [list_outcome_view(o) for o in outcomes]})


@bp.route(MAILCHIMP, methods=["DELETE"])
@any_user
def delete_mailchimp(principal: Principal, group_id: str) -> Response:
    removal = services().mailchimp.delete(principal, group_id)
    return json_response(
        {
            "deleted": True,
            "webhooks_removed": removal.removed,
            "webhooks_not_removed": [list_outcome_view(o) for o in removal.not_removed],
        }
    )
