"""§4 Users (admin only) and §2 the invitation flow (accepting, and the page the email links to)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.api.http import admin_only, json_body, json_response, query, reads_body
from chalicelib.api.pages import accept_invite_page
from chalicelib.api.validation import Body
from chalicelib.api.views import job_view, login_view, page, user_view
from chalicelib.bootstrap import services
from chalicelib.core.clock import iso
from chalicelib.core.errors import InvalidField
from chalicelib.domain import rules
from chalicelib.domain.models import AuthProvider, ClientKind, Enrolment, Principal, Role, UserStatus
from chalicelib.services.auth import MOBILE_CLIENTS
from chalicelib.services.bulk_users import MAX_USERS, BulkAction
from chalicelib.services.invitations import Acceptance
from chalicelib.services.users import NewUser, UserChanges

if TYPE_CHECKING:
    from chalicelib.services.users import InvitationSent

bp = Blueprint(__name__)

NAME_LENGTH = 100
FIELD_LENGTH = 200


def _invitation(sent: InvitationSent | None) -> dict[str, Any] | None:
    return None if sent is None else {"sent": sent.sent, "expires_at": iso(sent.expires_at)}


@bp.route("/admin/users", methods=["POST"])
@admin_only
@reads_body
def create_user(principal: Principal) -> Response:
    body = json_body(
        accepts=(
            "email",
            "first_name",
            "last_name",
            "title",
            "phone",
            "department",
            "role",
            "auth_provider",
            "send_invite",
        )
    )
    new = NewUser(
        email=body.required_string("email", max_length=rules.MAX_EMAIL_LENGTH),
        first_name=body.required_string("first_name", max_length=NAME_LENGTH),
        last_name=body.required_string("last_name", max_length=NAME_LENGTH),
        title=body.string("title", required=False, max_length=FIELD_LENGTH) or "",
        phone=body.string("phone", required=False, max_length=40) or "",
        department=body.string("department", required=False, max_length=FIELD_LENGTH) or "",
        role=body.choice("role", Role, default=Role.MEMBER),
        auth_provider=body.choice("auth_provider", AuthProvider, default=AuthProvider.PASSWORD),
        send_invite=body.boolean("send_invite", default=False),
    )
    user, invitation = services().users.create(principal, new)
    return json_response({**user_view(user, principal.security), "invitation": _invitation(invitation)}, 201)


@bp.route("/admin/users", methods=["GET"])
@admin_only
def list_users(principal: Principal) -> Response:
    params = query()
    status = params.choice("status", UserStatus)
    enrolment = params.choice("two_factor", Enrolment)
    users, next_cursor = services().users.search(
        principal,
        params.text("q", max_length=rules.MAX_EMAIL_LENGTH),
        status,
        params.limit(),
        params.cursor(),
        enrolment,
    )
    return json_response(page([user_view(u, principal.security) for u in users], next_cursor))


@bp.route("/admin/users/{user_id}", methods=["GET"])
@admin_only
def get_user(principal: Principal, user_id: str) -> Response:
    return json_response(user_view(services().users.get(principal, user_id), principal.security))


@bp.route("/admin/users/{user_id}", methods=["PATCH"])
@admin_only
@reads_body
def update_user(principal: Principal, user_id: str) -> Response:
    services().users.get(principal, user_id)  # 404 before the body is read
    body = json_body(
        accepts=("first_name", "last_name", "title", "phone", "department", "role", "auth_provider")
    )
    changes = UserChanges(
        first_name=body.string("first_name", required=False, max_length=NAME_LENGTH),
        last_name=body.string("last_name", required=False, max_length=NAME_LENGTH),
        title=_optional_text(body, "title", FIELD_LENGTH),
        phone=_optional_text(body, "phone", 40),
        department=_optional_text(body, "department", FIELD_LENGTH),
        role=body.choice("role", Role) if body.has("role") else None,
        auth_provider=body.choice("auth_provider", AuthProvider) if body.has("auth_provider") else None,
    )
    return json_response(user_view(services().users.update(principal, user_id, changes), principal.security))


def _optional_text(body: Body, field: str, max_length: int) -> str | None:
    """Absent: unchanged; "" clears the field."""
    if not body.has(field):
        return None
    return body.string(field, required=False, max_length=max_length, allow_empty=True) or ""


@bp.route("/admin/users/{user_id}", methods=["DELETE"])
@admin_only
def delete_user(principal: Principal, user_id: str) -> Response:
    job = services().deletion.request(principal, user_id)
    return json_response({"job_id": job.id, "job": job_view(job)}, 202)


@bp.route("/admin/users/{user_id}/deletion-preview", methods=["GET"])
@admin_only
def deletion_preview(principal: Principal, user_id: str) -> Response:
    return json_response(vars(services().deletion.preview(principal, user_id)))


@bp.route("/admin/users/bulk", methods=["POST"])
@admin_only
@reads_body
def bulk_users(principal: Principal) -> Response:
    body = json_body(accepts=("action", "user_ids"))
    action = body.choice("action", BulkAction)
    # Duplicates count once: the service enforces MAX_USERS distinct ids; this only bounds input.
    user_ids = body.string_list("user_ids", max_items=10 * MAX_USERS, max_length=64)
    job = services().bulk.start(principal, action, user_ids)
    return json_response({"job_id": job.id, "job": job_view(job)}, 202)


@bp.route("/admin/users/{user_id}/invite", methods=["POST"])
@admin_only
def invite_user(principal: Principal, user_id: str) -> Response:
    return json_response({"invitation": _invitation(services().users.invite(principal, user_id))})


@bp.route("/admin/users/{user_id}/deactivate", methods=["POST"])
@admin_only
def deactivate_user(principal: Principal, user_id: str) -> Response:
    return json_response(user_view(services().users.deactivate(principal, user_id), principal.security))


@bp.route("/admin/users/{user_id}/activate", methods=["POST"])
@admin_only
def activate_user(principal: Principal, user_id: str) -> Response:
    return json_response(user_view(services().users.activate(principal, user_id), principal.security))


@bp.route("/admin/users/{user_id}/2fa/reset", methods=["POST"])
@admin_only
def reset_two_factor(principal: Principal, user_id: str) -> Response:
    """ "Reset QR code": the user enrols again at the next sign-in."""
    user = services().users.get(principal, user_id)
    return json_response(user_view(services().two_factor.reset(principal, user), principal.security))


@bp.route("/auth/accept-invite", methods=["POST"])
def accept_invite() -> Response:
    body = json_body(accepts=("token", "password", "first_name", "last_name", "client"))
    acceptance = Acceptance(
        token=body.required_string("token", max_length=300),
        password=body.secret("password"),
        first_name=body.string("first_name", required=False, max_length=NAME_LENGTH),
        last_name=body.string("last_name", required=False, max_length=NAME_LENGTH),
        client=body.choice("client", ClientKind, default=ClientKind.WEB),
    )
    if acceptance.client in MOBILE_CLIENTS:  # the apps sign in with their device, at /auth/login
        raise InvalidField("client", "must be web, desktop or mac here; the apps sign in at /auth/login")
    return json_response(login_view(services().invitations.accept(acceptance)))


@bp.route("/accept-invite", methods=["GET"])
def accept_invite_form() -> Response:
    """The page the invitation email links to: set a password, then signed in."""
    return Response(
        body=accept_invite_page(),
        status_code=200,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )
