"""§5 Groups: create, list mine, read; add, change and remove members (or leave); messages."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import any_user, json_body, json_response, query, reads_body
from chalicelib.api.views import group_view, member_view, messages_page, page, posted_message_view
from chalicelib.bootstrap import services
from chalicelib.domain.models import GroupRole, Principal
from chalicelib.services.groups import MAX_DESCRIPTION, MAX_NAME, MemberChange
from chalicelib.services.messages import MAX_TEXT, NewMessage

bp = Blueprint(__name__)

MAX_ID = 64


def read_new_message() -> NewMessage:
    """The body of a new message (groups and chats): `text`, and `file_ids` when it carries files.
    Read by the service once the caller may post, so that 403/404 come before any 400."""
    body = json_body(accepts=("text", "file_ids"))
    # Longer texts are read here and refused by the service's own rule (400 text_too_long).
    text = body.string("text", required=False, max_length=4 * MAX_TEXT, allow_empty=True) or ""
    # The service refuses more than its limit of files (400 too_many_files); this only bounds input.
    return NewMessage(text=text, file_ids=body.string_list("file_ids", max_items=100, max_length=MAX_ID))


@bp.route("/groups", methods=["POST"])
@any_user
@reads_body
def create_group(principal: Principal) -> Response:
    services().groups.check_can_create(principal)  # 403 before any 400
    body = json_body(accepts=("name", "description"))
    name = body.required_string("name", max_length=MAX_NAME)
    description = body.string("description", required=False, max_length=MAX_DESCRIPTION) or ""
    group, membership = services().groups.create(principal, name, description)
    return json_response(group_view(group, membership), 201)


@bp.route("/groups", methods=["GET"])
@any_user
def list_my_groups(principal: Principal) -> Response:
    params = query()
    pairs, next_cursor = services().groups.list_mine(principal, params.limit(), params.cursor())
    return json_response(page([group_view(g, m) for g, m in pairs], next_cursor))


@bp.route("/groups/{group_id}", methods=["GET"])
@any_user
def get_group(principal: Principal, group_id: str) -> Response:
    access = services().groups.get(principal, group_id)
    return json_response(group_view(access.group, access.membership))


@bp.route("/groups/{group_id}/members", methods=["GET"])
@any_user
def list_group_members(principal: Principal, group_id: str) -> Response:
    params = query()
    pairs, next_cursor = services().groups.list_members(principal, group_id, params.limit(), params.cursor())
    return json_response(page([member_view(m, u) for m, u in pairs], next_cursor))


@bp.route("/groups/{group_id}/members", methods=["POST"])
@any_user
@reads_body
def add_group_member(principal: Principal, group_id: str) -> Response:
    def read() -> MemberChange:
        body = json_body(accepts=("user_id", "role"))
        user_id = body.required_string("user_id", max_length=64)
        role = body.choice("role", GroupRole) if body.has("role") else None
        return MemberChange(user_id=user_id, role=role)

    result = services().groups.set_member(principal, group_id, read)
    return json_response(member_view(result.membership, result.user), 201 if result.added else 200)


@bp.route("/groups/{group_id}/members/{user_id}", methods=["DELETE"])
@any_user
def remove_group_member(principal: Principal, group_id: str, user_id: str) -> Response:
    services().groups.remove_member(principal, group_id, user_id)
    return Response(body="", status_code=204)


@bp.route("/groups/{group_id}/messages", methods=["POST"])
@any_user
@reads_body
def post_group_message(principal: Principal, group_id: str) -> Response:
    posted = services().messages.post_to_group(principal, group_id, read_new_message)
    return json_response(posted_message_view(posted), 201)


@bp.route("/groups/{group_id}/messages", methods=["GET"])
@any_user
def list_group_messages(principal: Principal, group_id: str) -> Response:
    params = query()
    messages = services().messages.list_group(principal, group_id, params.limit(), params.cursor())
    return json_response(messages_page(messages))
