"""§2 two-factor sign-in and §4 its settings, through the routes, on moto (KMS included), with
a clock that moves only when told to."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from chalicelib.core import aws
from chalicelib.domain.models import AuthProvider, Role
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.users import UserRepository
from tests.conftest import ADMIN_PASSWORD, Api, error_of
from tests.integration.factories import add_user, sent_emails

MEMBER_EMAIL = "mo@acme.example"


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def set_security(api: Api, token: str, method: str, validity_days: int = 0) -> Any:
    body = {"two_factor": method, "validity_days": validity_days}
    return api.call("PUT", "/admin/settings/security", body, token=token)


def member(domain: str = "acme") -> str:
    return add_user(domain, MEMBER_EMAIL).id


def login(api: Api, email: str = MEMBER_EMAIL, client_kind: str = "web", trusted: str | None = None) -> Any:
    body: dict[str, Any] = {
        "domain": "acme",
        "email": email,
        "password": ADMIN_PASSWORD,
        "client": client_kind,
    }
    if trusted:
        body["trusted_token"] = trusted
    return api.call("POST", "/auth/login", body)


def challenge_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.body
    assert response.json_body["status"] == "2fa_required", response.json_body
    assert "token" not in response.json_body
    return dict(response.json_body["challenge"])


def answer(api: Api, challenge: dict[str, Any] | str, code: str) -> Any:
    challenge_id = challenge if isinstance(challenge, str) else challenge["id"]
    return api.call("POST", "/auth/2fa", {"challenge_id": challenge_id, "code": code})


def last_code(to: str = MEMBER_EMAIL) -> str:
    mail = [m for m in sent_emails() if to in m["to"]][-1]
    found = re.search(r"\b(\d{6})\b", mail["body"])
    assert found, mail
    return found.group(1)


def secret_of(challenge: dict[str, Any]) -> str:
    uri = urlparse(challenge["otpauth_uri"])
    return str(parse_qs(uri.query)["secret"][0])


def enrol(api: Api, clock: Any, email: str = MEMBER_EMAIL) -> tuple[str, Any]:
    """Signs in for the first time under TOTP: returns the secret and the answer."""
    challenge = challenge_of(login(api, email))
    secret = secret_of(challenge)
    passed = answer(api, challenge, pyotp.TOTP(secret).at(clock.now()))
    assert passed.status_code == 200, passed.body
    return secret, passed


# --- settings -----------------------------------------------------------------------------------


def test_settings_start_off_and_an_admin_changes_them(api: Api, admin: str) -> None:
    assert api.call("GET", "/admin/settings/security", token=admin).json_body == {
        "two_factor": "off",
        "validity_days": 0,
    }
    response = set_security(api, admin, "totp", 30)
    assert response.json_body == {"two_factor": "totp", "validity_days": 30}
    assert api.call("GET", "/admin/settings/security", token=admin).json_body["two_factor"] == "totp"
    audit = api.call("GET", "/admin/audit", token=admin).json_body["items"][0]
    assert audit["action"] == "security.updated"
    assert audit["details"]["previous"] == {"two_factor": "off", "validity_days": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"two_factor": "sms", "validity_days": 1},
        {"two_factor": "email", "validity_days": 91},
        {"two_factor": "email", "validity_days": -1},
        {"two_factor": "email", "validity_days": "7"},
        {"two_factor": "email", "validity_days": True},
        {"two_factor": "email"},
        {"validity_days": 3},
        {"two_factor": None, "validity_days": 3},
    ],
)
def test_settings_refuse_anything_else(api: Api, admin: str, body: dict[str, Any]) -> None:
    status, _ = error_of(api.call("PUT", "/admin/settings/security", body, token=admin))
    assert status == 400
    assert api.call("GET", "/admin/settings/security", token=admin).json_body["two_factor"] == "off"


def test_only_admins_reach_the_settings(api: Api, admin: str) -> None:
    member()
    token = login(api).json_body["token"]
    assert error_of(api.call("GET", "/admin/settings/security", token=token)) == (403, "forbidden")
    assert error_of(set_security(api, token, "off")) == (403, "forbidden")
    assert error_of(api.call("GET", "/admin/settings/security")) == (401, "unauthenticated")


# --- email codes --------------------------------------------------------------------------------


def test_email_code_signs_in_once(api: Api, admin: str) -> None:
    set_security(api, admin, "email", 0)
    member()
    challenge = challenge_of(login(api))
    assert challenge["method"] == "email" and challenge["enroll"] is False
    assert challenge["sent_to"] == "m•••@acme.example"
    code = last_code()
    passed = answer(api, challenge, code)
    assert passed.status_code == 200, passed.body
    body = passed.json_body
    assert body["status"] == "ok" and body["token"]
    assert body["trusted_token"] is None and body["trusted_until"] is None  # validity 0: every login
    assert body["user"]["two_factor"] == {"method": "email", "enrolled": False}
    assert api.call("GET", "/me", token=body["token"]).json_body["two_factor"]["method"] == "email"
    assert error_of(answer(api, challenge, code)) == (401, "challenge_expired")  # single use


def test_the_code_is_stored_only_hashed(api: Api, admin: str) -> None:
    set_security(api, admin, "email")
    user_id = member()
    challenge_of(login(api))
    code = last_code()
    items = Table().query(f"D#acme#U#{user_id}", sk_prefix="CHALLENGE#", limit=10).items
    assert len(items) == 1
    assert code not in repr(items[0])


def test_email_code_expires_after_ten_minutes(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "email")
    member()
    challenge = challenge_of(login(api))
    code = last_code()
    clock.advance(minutes=10)
    assert error_of(answer(api, challenge, code)) == (401, "challenge_expired")


def test_resend_waits_a_minute_and_replaces_the_code(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "email")
    member()
    challenge = challenge_of(login(api))
    first = last_code()
    clock.advance(seconds=20)
    early = api.call("POST", "/auth/2fa/resend", {"challenge_id": challenge["id"]})
    assert error_of(early) == (429, "rate_limited")
    assert early.headers["Retry-After"] == "40"
    clock.advance(seconds=40)
    resent = api.call("POST", "/auth/2fa/resend", {"challenge_id": challenge["id"]})
    assert resent.status_code == 200, resent.body
    assert resent.json_body["status"] == "sent"
    second = last_code()
    if second != first:  # one chance in a million they are the same
        assert error_of(answer(api, challenge, first)) == (401, "invalid_code")
    assert answer(api, challenge, second).status_code == 200
    again = api.call("POST", "/auth/2fa/resend", {"challenge_id": challenge["id"]})
    assert error_of(again) == (401, "challenge_expired")


def test_resend_is_for_email_challenges_only(api: Api, admin: str) -> None:
    set_security(api, admin, "totp")
    member()
    challenge = challenge_of(login(api))
    response = api.call("POST", "/auth/2fa/resend", {"challenge_id": challenge["id"]})
    assert error_of(response) == (409, "not_email_challenge")


def test_five_wrong_codes_kill_the_challenge(api: Api, admin: str) -> None:
    set_security(api, admin, "email")
    member()
    challenge = challenge_of(login(api))
    code = last_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert error_of(answer(api, challenge, wrong)) == (401, "invalid_code")
    dead = answer(api, challenge, code)
    assert error_of(dead) == (429, "too_many_attempts")
    assert int(dead.headers["Retry-After"]) > 0
    assert error_of(answer(api, challenge, wrong)) == (429, "too_many_attempts")


def test_wrong_codes_count_towards_the_account_lockout(api: Api, admin: str) -> None:
    """New challenges do not buy new guesses: ten wrong codes lock the account like ten wrong
    passwords."""
    set_security(api, admin, "email")
    member()
    for _ in range(2):
        challenge = challenge_of(login(api))
        for _ in range(5):
            answer(api, challenge, "000000")
    assert error_of(login(api)) == (429, "too_many_attempts")


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567"])
def test_malformed_codes_are_wrong_codes(api: Api, admin: str, code: str) -> None:
    set_security(api, admin, "email")
    member()
    challenge = challenge_of(login(api))
    response = answer(api, challenge, code)
    assert response.status_code in (400, 401)
    assert error_of(response)[1] in ("invalid_code", "missing_field", "invalid_field")


@pytest.mark.parametrize("challenge_id", ["nope", "acme.01ABCDEFGHJKMNPQRSTVWXYZ0.xyz", "a" * 300])
def test_unknown_challenges_ask_to_sign_in_again(api: Api, admin: str, challenge_id: str) -> None:
    assert error_of(answer(api, challenge_id, "123456")) == (401, "challenge_expired")


# --- exemptions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("client_kind", ["ios", "android"])
def test_the_apps_are_not_challenged(api: Api, admin: str, client_kind: str) -> None:
    set_security(api, admin, "totp")
    member()
    response = api.login("acme", email=MEMBER_EMAIL, client_kind=client_kind)
    assert response.json_body["status"] == "ok"


@pytest.mark.parametrize("client_kind", ["web", "desktop", "mac"])
def test_browsers_and_desktop_apps_are_challenged(api: Api, admin: str, client_kind: str) -> None:
    set_security(api, admin, "email")
    member()
    assert challenge_of(login(api, client_kind=client_kind))["method"] == "email"


@pytest.mark.parametrize("provider", ["google", "saml"])
def test_sso_users_never_sign_in_by_password(api: Api, admin: str, provider: str) -> None:
    user_id = member()
    changed = api.call("PATCH", f"/admin/users/{user_id}", {"auth_provider": provider}, token=admin)
    assert changed.json_body["auth_provider"] == provider
    assert changed.json_body["two_factor"]["method"] is None
    assert error_of(login(api)) == (403, "sso_required")
    set_security(api, admin, "email")
    assert error_of(login(api)) == (403, "sso_required")
    wrong = api.call("POST", "/auth/login", {"domain": "acme", "email": MEMBER_EMAIL, "password": "x" * 12})
    assert error_of(wrong) == (401, "invalid_credentials")  # says nothing about the account


def test_turning_2fa_off_signs_in_without_a_challenge(api: Api, admin: str) -> None:
    set_security(api, admin, "email")
    set_security(api, admin, "off")
    member()
    assert login(api).json_body["status"] == "ok"


# --- TOTP -----------------------------------------------------------------------------------------


def test_totp_enrolment_from_the_uri_with_an_independent_computation(
    api: Api, admin: str, clock: Any
) -> None:
    set_security(api, admin, "totp", 0)
    user_id = member()
    challenge = challenge_of(login(api))
    assert challenge["method"] == "totp" and challenge["enroll"] is True
    uri = challenge["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Office%20Chat:mo@acme.example?secret=")
    assert uri.endswith("&issuer=Office%20Chat")
    assert challenge["qr_svg"].startswith("<svg") and "</svg>" in challenge["qr_svg"]
    assert unquote(urlparse(uri).path) == "/Office Chat:mo@acme.example"
    secret = secret_of(challenge)
    code = _rfc6238(secret, int(clock.now().timestamp()))
    passed = answer(api, challenge, code)
    assert passed.status_code == 200, passed.body
    codes = passed.json_body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert passed.json_body["user"]["two_factor"] == {"method": "totp", "enrolled": True}
    # the secret is stored encrypted, never in the clear
    item = Table().get(f"D#acme#U#{user_id}", "TWOFACTOR")
    assert item is not None and secret.encode() not in bytes(item["secret"])
    assert all(c not in repr(item) for c in codes)
    # the next sign-in asks for a code, no enrolment
    later = challenge_of(login(api))
    assert later["enroll"] is False and "otpauth_uri" not in later


def test_the_secret_is_the_users_only_after_the_first_valid_code(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp")
    member()
    first = challenge_of(login(api))
    assert error_of(answer(api, first, "000000")) == (401, "invalid_code")
    second = challenge_of(login(api))
    assert second["enroll"] is True and secret_of(second) != secret_of(first)
    user = api.call("GET", "/admin/users?two_factor=not_enrolled", token=admin).json_body["items"]
    assert MEMBER_EMAIL in [u["email"] for u in user]


def test_a_code_is_accepted_once(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp")
    member()
    secret, _ = enrol(api, clock)
    challenge = challenge_of(login(api))
    code = pyotp.TOTP(secret).at(clock.now())  # the step used by the enrolment: a replay
    assert error_of(answer(api, challenge, code)) == (401, "invalid_code")
    clock.advance(seconds=30)
    assert answer(api, challenge, pyotp.TOTP(secret).at(clock.now())).status_code == 200


@pytest.mark.parametrize(("offset", "accepted"), [(-60, False), (-30, True), (30, True), (60, False)])
def test_one_step_of_drift_either_way(api: Api, admin: str, clock: Any, offset: int, accepted: bool) -> None:
    set_security(api, admin, "totp")
    member()
    secret, _ = enrol(api, clock)
    clock.advance(minutes=5)
    challenge = challenge_of(login(api))
    code = pyotp.TOTP(secret).at(clock.now().timestamp() + offset)
    response = answer(api, challenge, code)
    if accepted:
        assert response.status_code == 200, response.body
    else:
        assert error_of(response) == (401, "invalid_code")


def test_recovery_codes_stand_in_once(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp")
    member()
    _, passed = enrol(api, clock)
    recovery = passed.json_body["recovery_codes"]
    used = answer(api, challenge_of(login(api)), recovery[3].upper().replace("-", " "))
    assert used.status_code == 200, used.body
    assert used.json_body["recovery_codes_left"] == 9
    assert error_of(answer(api, challenge_of(login(api)), recovery[3])) == (401, "invalid_code")
    assert answer(api, challenge_of(login(api)), recovery[4]).status_code == 200


def test_reset_qr_code_enrols_again_and_ends_tokens_and_trust(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp", 30)
    user_id = member()
    _, passed = enrol(api, clock)
    token, trusted = passed.json_body["token"], passed.json_body["trusted_token"]
    recovery = passed.json_body["recovery_codes"]
    reset = api.call("POST", f"/admin/users/{user_id}/2fa/reset", token=admin)
    assert reset.status_code == 200, reset.body
    assert reset.json_body["two_factor"] == {"method": "totp", "enrolled": False}
    assert error_of(api.call("GET", "/me", token=token)) == (401, "invalid_token")
    challenge = challenge_of(login(api, trusted=trusted))  # the trusted browser is forgotten
    assert challenge["enroll"] is True  # the QR code again
    assert error_of(answer(api, challenge, recovery[0])) == (401, "invalid_code")  # old codes gone
    audit = api.call("GET", "/admin/audit", token=admin).json_body["items"][0]
    assert (audit["action"], audit["target"]) == ("user.two_factor_reset", f"user:{user_id}")


def test_reset_is_for_admins_and_known_users(api: Api, admin: str) -> None:
    user_id = member()
    token = login(api).json_body["token"]
    assert error_of(api.call("POST", f"/admin/users/{user_id}/2fa/reset", token=token)) == (403, "forbidden")
    missing = api.call("POST", "/admin/users/01ABCDEFGHJKMNPQRSTVWXYZ0/2fa/reset", token=admin)
    assert error_of(missing) == (404, "user_not_found")


def test_the_admin_sees_who_is_enrolled(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp")
    member()
    add_user("acme", "nina@acme.example")
    enrol(api, clock)

    def emails(query: str) -> list[str]:
        answer_ = api.call("GET", f"/admin/users?{query}", token=admin)
        assert answer_.status_code == 200, answer_.body
        return sorted(u["email"] for u in answer_.json_body["items"])

    assert emails("two_factor=enrolled") == [MEMBER_EMAIL]
    assert emails("two_factor=not_enrolled") == ["admin@acme.example", "nina@acme.example"]
    assert emails("two_factor=enrolled&status=active") == [MEMBER_EMAIL]
    assert emails("two_factor=enrolled&status=invited") == []
    assert emails("two_factor=enrolled&q=mo") == [MEMBER_EMAIL]  # both are "Mo Member"
    assert emails("two_factor=not_enrolled&q=mo") == ["nina@acme.example"]
    assert emails("two_factor=enrolled&q=nina") == []
    assert error_of(api.call("GET", "/admin/users?two_factor=yes", token=admin))[0] == 400


# --- the validity period ----------------------------------------------------------------------------


def test_a_trusted_browser_skips_the_challenge_for_the_period(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "email", 7)
    member()
    challenge = challenge_of(login(api))
    passed = answer(api, challenge, last_code()).json_body
    assert passed["trusted_until"] == "2026-12-01T12:00:00Z"
    trusted = passed["trusted_token"]
    clock.advance(days=6, hours=23)
    assert login(api, trusted=trusted).json_body["status"] == "ok"
    assert challenge_of(login(api))  # without it, the challenge
    clock.advance(hours=1)
    assert challenge_of(login(api, trusted=trusted))


def test_a_trusted_token_belongs_to_its_user(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "email", 7)
    member()
    add_user("acme", "nina@acme.example")
    trusted = answer(api, challenge_of(login(api)), last_code()).json_body["trusted_token"]
    assert challenge_of(login(api, "nina@acme.example", trusted=trusted))
    assert challenge_of(login(api, trusted="garbage"))
    assert login(api, client_kind="desktop", trusted=trusted).json_body["status"] == "ok"


def test_a_change_of_method_ends_every_trusted_browser(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "email", 30)
    member()
    trusted = answer(api, challenge_of(login(api)), last_code()).json_body["trusted_token"]
    set_security(api, admin, "email", 10)  # the same method: trust holds (within 10 days)
    assert login(api, trusted=trusted).json_body["status"] == "ok"
    set_security(api, admin, "totp", 10)
    set_security(api, admin, "email", 10)
    assert challenge_of(login(api, trusted=trusted))


def test_a_shorter_period_shortens_the_trust(api: Api, admin: str, clock: Any) -> None:
    admin = api.login("acme", client_kind="desktop").json_body["token"]  # lives 30 days
    set_security(api, admin, "email", 30)
    member()
    trusted = answer(api, challenge_of(login(api)), last_code()).json_body["trusted_token"]
    clock.advance(days=3)
    set_security(api, admin, "email", 2)
    assert challenge_of(login(api, trusted=trusted))
    set_security(api, admin, "email", 0)
    assert challenge_of(login(api, trusted=trusted))


def test_deactivation_ends_trusted_browsers(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "email", 30)
    user_id = member()
    trusted = answer(api, challenge_of(login(api)), last_code()).json_body["trusted_token"]
    api.call("POST", f"/admin/users/{user_id}/deactivate", token=admin)
    api.call("POST", f"/admin/users/{user_id}/activate", token=admin)
    assert challenge_of(login(api, trusted=trusted))


def test_a_challenge_of_a_user_deactivated_meanwhile_gives_no_token(api: Api, admin: str) -> None:
    set_security(api, admin, "email")
    user_id = member()
    challenge = challenge_of(login(api))
    api.call("POST", f"/admin/users/{user_id}/deactivate", token=admin)
    assert error_of(answer(api, challenge, last_code())) == (403, "user_deactivated")


def test_an_invitation_accepted_under_2fa_answers_the_challenge(api: Api, admin: str, clock: Any) -> None:
    from tests.integration.test_users_api import invite_token

    set_security(api, admin, "totp")
    body = {"email": "ivy@acme.example", "first_name": "Ivy", "last_name": "New", "send_invite": True}
    api.call("POST", "/admin/users", body, token=admin)
    accepted = api.call(
        "POST",
        "/auth/accept-invite",
        {"token": invite_token("ivy@acme.example"), "password": "a fresh passphrase"},
    )
    challenge = challenge_of(accepted)
    assert challenge["enroll"] is True
    code = pyotp.TOTP(secret_of(challenge)).at(clock.now())
    assert answer(api, challenge, code).json_body["user"]["status"] == "active"


def test_profile_changes_do_not_undo_an_enrolment(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp")
    user_id = member()
    enrol(api, clock)
    api.call("PATCH", f"/admin/users/{user_id}", {"title": "Nurse"}, token=admin)
    user = UserRepository(Table()).get("acme", user_id)
    assert user is not None and user.two_factor_enrolled and user.title == "Nurse"
    assert user.role is Role.MEMBER and user.auth_provider is AuthProvider.PASSWORD


def _rfc6238(secret: str, unix_time: int) -> str:
    """TOTP computed here from RFC 6238 itself, not with the library the server uses."""
    import base64
    import hashlib
    import hmac
    import struct

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", unix_time // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"
