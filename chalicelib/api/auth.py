"""§2 Authentication: login, its second step (2FA), logout, and who am I."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import any_user, json_body, json_response
from chalicelib.api.validation import Body
from chalicelib.api.views import challenge_passed_view, login_view, user_view
from chalicelib.bootstrap import services
from chalicelib.core.clock import iso
from chalicelib.domain import rules
from chalicelib.domain.devices import DeviceInfo
from chalicelib.domain.models import ClientKind, Principal

bp = Blueprint(__name__)

TOKEN_LENGTH = 300  # bearer-like strings: domain, user id and 43 random characters


@bp.route("/auth/login", methods=["POST"])
def login() -> Response:
    body = json_body(accepts=("domain", "email", "password", "client", "device", "trusted_token"))
    # People type their domain as they see it ("Acme"); names are lowercase by construction.
    domain = rules.check_domain_name(body.required_string("domain", max_length=63).lower())
    email = body.required_string("email", max_length=rules.MAX_EMAIL_LENGTH)
    password = body.secret("password")
    client = body.choice("client", ClientKind, default=ClientKind.WEB)
    device = read_device(body) if body.has("device") else None
    trusted = body.string("trusted_token", required=False, max_length=TOKEN_LENGTH)
    return json_response(login_view(services().auth.login(domain, email, password, client, device, trusted)))


@bp.route("/auth/2fa", methods=["POST"])
def pass_challenge() -> Response:
    body = json_body(accepts=("challenge_id", "code"))
    challenge_id = body.required_string("challenge_id", max_length=TOKEN_LENGTH)
    code = body.required_string("code", max_length=40)
    return json_response(challenge_passed_view(services().two_factor.answer(challenge_id, code)))


@bp.route("/auth/2fa/resend", methods=["POST"])
def resend_code() -> Response:
    body = json_body(accepts=("challenge_id",))
    challenge_id = body.required_string("challenge_id", max_length=TOKEN_LENGTH)
    resent = services().two_factor.resend(challenge_id)
    return json_response(
        {"status": "sent", "expires_at": iso(resent.expires_at), "next_resend_at": iso(resent.next_resend_at)}
    )


def read_device(body: Body) -> DeviceInfo:
    device = body.object("device", accepts=("device_id", "type", "name", "os_version", "app_version"))
    return DeviceInfo(
        device_id=device.required_string("device_id", max_length=128),
        type=device.required_string("type", max_length=40),
        name=device.string("name", required=False, max_length=100) or "",
        os_version=device.string("os_version", required=False, max_length=40) or "",
        app_version=device.string("app_version", required=False, max_length=40) or "",
    )


@bp.route("/auth/logout", methods=["POST"])
@any_user
def logout(principal: Principal) -> Response:
    services().auth.logout(principal)
    return json_response({"status": "ok"})


@bp.route("/me", methods=["GET"])
@any_user
def me(principal: Principal) -> Response:
    return json_response({**user_view(principal.user, principal.security), "domain": principal.domain})
