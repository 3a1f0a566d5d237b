"""§6 What outside services call: Slack's outgoing webhooks and Events API, MailChimp's
webhooks, and the OAuth callbacks a group admin's browser comes back to after authorizing.

None of these carry a bearer token: a webhook is authenticated by the secret in its URL, an
event by Slack's signature, a callback by its signed single-use `state`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.api.http import current_request, json_response
from chalicelib.api.pages import oauth_result_page
from chalicelib.bootstrap import services

if TYPE_CHECKING:
    from chalicelib.services.integrations import OAuthOutcome

bp = Blueprint(__name__)

# Slack posts outgoing webhooks as a form and events as JSON, MailChimp posts forms; every
# receiver takes either, so a wrong type reaches the payload check (400) rather than a bare 415.
_FORM_OR_JSON = ["application/x-www-form-urlencoded", "application/json"]


@bp.route("/hooks/slack/events", methods=["POST"], content_types=_FORM_OR_JSON)
def slack_events() -> Response:
    request = current_request()
    answer = services().slack_inbound.from_events_api(
        _body(), request.headers.get("x-slack-request-timestamp"), request.headers.get("x-slack-signature")
    )
    return json_response(answer)


@bp.route("/hooks/slack/{secret}", methods=["POST"], content_types=_FORM_OR_JSON)
def slack_outgoing_webhook(secret: str) -> Response:
    services().slack_inbound.from_outgoing_webhook(secret, _body())
    return json_response({})  # an empty answer: Slack posts nothing back into the channel


@bp.route("/oauth/slack/callback", methods=["GET"])
def slack_oauth_callback() -> Response:
    params = _query()
    return _page(
        services().slack.complete_oauth(params.get("code"), params.get("state"), params.get("error"))
    )


@bp.route("/hooks/mailchimp/{secret}", methods=["GET"])
def mailchimp_webhook_ping(secret: str) -> Response:
    services().mailchimp_inbound.ping(secret)  # MailChimp checks the URL when the webhook is made
    return json_response({})


@bp.route("/hooks/mailchimp/{secret}", methods=["POST"], content_types=_FORM_OR_JSON)
def mailchimp_webhook(secret: str) -> Response:
    services().mailchimp_inbound.from_webhook(secret, _body())
    return json_response({})


@bp.route("/oauth/mailchimp/callback", methods=["GET"])
def mailchimp_oauth_callback() -> Response:
    params = _query()
    return _page(
        services().mailchimp.complete_oauth(params.get("code"), params.get("state"), params.get("error"))
    )


def _query() -> Mapping[str, str]:
    return current_request().query_params or {}


def _page(outcome: OAuthOutcome) -> Response:
    page = oauth_result_page(outcome.title, outcome.detail, ok=outcome.status == 200)
    return Response(
        body=page,
        status_code=outcome.status,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )


def _body() -> bytes:
    raw = current_request().raw_body
    return raw.encode() if isinstance(raw, str) else (raw or b"")
