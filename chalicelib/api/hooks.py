"""§6 What outside services call: Slack's outgoing webhooks and Events API, and the OAuth
callback a group admin's browser comes back to after authorizing our Slack app.

None of these carry a bearer token: a webhook is authenticated by the secret in its URL, an
event by Slack's signature, a callback by its signed single-use `state`."""

from __future__ import annotations

from collections.abc import Mapping

from chalice.app import Blueprint, Response

from chalicelib.api.http import current_request, json_response
from chalicelib.api.pages import oauth_result_page
from chalicelib.bootstrap import services

bp = Blueprint(__name__)

# Slack posts outgoing webhooks as a form and events as JSON; either route takes either, so a
# wrong type reaches the payload check (400) rather than a bare 415.
_SLACK_BODIES = ["application/x-www-form-urlencoded", "application/json"]


@bp.route("/hooks/slack/events", methods=["POST"], content_types=_SLACK_BODIES)
def slack_events() -> Response:
    request = current_request()
    answer = services().slack_inbound.from_events_api(
        _body(), request.headers.get("x-slack-request-timestamp"), request.headers.get("x-slack-signature")
    )
    return json_response(answer)


@bp.route("/hooks/slack/{secret}", methods=["POST"], content_types=_SLACK_BODIES)
def slack_outgoing_webhook(secret: str) -> Response:
    services().slack_inbound.from_outgoing_webhook(secret, _body())
    return json_response({})  # an empty answer: Slack posts nothing back into the channel


@bp.route("/oauth/slack/callback", methods=["GET"])
def slack_oauth_callback() -> Response:
    params: Mapping[str, str] = current_request().query_params or {}
    outcome = services().slack.complete_oauth(params.get("code"), params.get("state"), params.get("error"))
    page = oauth_result_page(outcome.title, outcome.detail, ok=outcome.status == 200)
    return Response(
        body=page,
        status_code=outcome.status,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )


def _body() -> bytes:
    raw = current_request().raw_body
    return raw.encode() if isinstance(raw, str) else (raw or b"")
