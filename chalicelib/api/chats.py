"""§5 Private chats: the caller and one other user of the domain; the caller's chats."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.groups import read_new_message
from chalicelib.api.http import any_user, json_response, query, reads_body
from chalicelib.api.views import chat_summary_view, messages_page, page, posted_message_view
from chalicelib.bootstrap import services
from chalicelib.domain.models import Principal

bp = Blueprint(__name__)


@bp.route("/chats", methods=["GET"])
@any_user
def list_chats(principal: Principal) -> Response:
    params = query()
    chats, next_cursor = services().messages.list_chats(principal, params.limit(), params.cursor())
    return json_response(page([chat_summary_view(c) for c in chats], next_cursor))


@bp.route("/chats/{user_id}/messages", methods=["POST"])
@any_user
@reads_body
def post_chat_message(principal: Principal, user_id: str) -> Response:
    posted = services().messages.post_to_chat(principal, user_id, read_new_message)
    return json_response(posted_message_view(posted), 201)


@bp.route("/chats/{user_id}/messages", methods=["GET"])
@any_user
def list_chat_messages(principal: Principal, user_id: str) -> Response:
    params = query()
    messages = services().messages.list_chat(principal, user_id, params.limit(), params.cursor())
    return json_response(messages_page(messages))
