"""§2 Authentication without 2FA: login, tokens, lockout, logout, /me."""

import time
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.domain.models import DomainStatus, UserStatus
from tests.conftest import ADMIN_PASSWORD, Api, error_of
from tests.integration.factories import add_user, set_domain_status, set_user_status


def test_login_answers_a_token_its_expiry_and_the_user(api: Api) -> None:
    api.provision("acme")
    response = api.login("acme", email="  ADMIN@acme.EXAMPLE ")
    assert response.status_code == 200
    body = response.json_body
    assert body["status"] == "ok"
    assert body["token"].startswith("acme.")
    assert body["expires_at"] == "2026-11-25T00:00:00Z"  # web: 12 hours after the fixed clock
    assert body["user"]["email"] == "admin@acme.example" and body["user"]["role"] == "admin"


@pytest.mark.parametrize(
    ("client_kind", "expires"), [("desktop", "2026-12-24T12:00:00Z"), ("android", "2027-02-22T12:00:00Z")]
)
def test_token_lifetime_follows_the_client(api: Api, client_kind: str, expires: str) -> None:
    api.provision("acme")
    assert api.login("acme", client_kind=client_kind).json_body["expires_at"] == expires


def test_only_the_token_hash_is_stored(api: Api) -> None:
    token = api.admin_token("acme")
    user_id = token.split(".")[1]
    items = aws.dynamodb().query(
        TableName="office-chat-main",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
        ExpressionAttributeValues={":pk": {"S": f"D#acme#U#{user_id}"}, ":t": {"S": "TOKEN#"}},
    )["Items"]
    assert len(items) == 1
    assert token not in str(items) and token.split(".")[2] not in str(items)


def test_wrong_password_and_unknown_email_answer_alike(api: Api) -> None:
    api.provision("acme")
    wrong = api.login("acme", password="not the password at all")
    unknown = api.login("acme", email="nobody@acme.example")
    other_domain = api.login("nowhere")
    assert error_of(wrong) == error_of(unknown) == error_of(other_domain) == (401, "invalid_credentials")
    assert wrong.json_body == unknown.json_body == other_domain.json_body


def test_unknown_email_costs_about_the_time_of_a_wrong_password(api: Api) -> None:
    api.provision("acme")

    def timed(**kwargs: Any) -> float:
        runs = []
        for _ in range(5):
            start = time.perf_counter()
            api.login("acme", **kwargs)
            runs.append(time.perf_counter() - start)
        return sorted(runs)[2]

    wrong, unknown = timed(password="not the password at all"), timed(email="nobody@acme.example")
    # Both pay one argon2 verification; without the dummy hash the unknown email would be ~10x faster.
    assert unknown > wrong / 3


def test_ten_failures_lock_the_account_even_for_the_right_password(api: Api, clock: Any) -> None:
    api.provision("acme")
    for attempt in range(10):
        assert error_of(api.login("acme", password=f"wrong password {attempt}")) == (
            401,
            "invalid_credentials",
        )
    locked = api.login("acme")
    assert error_of(locked) == (429, "too_many_attempts")
    assert 1 <= int(locked.headers["Retry-After"]) <= 901
    assert error_of(api.login("acme", email="other@acme.example")) == (401, "invalid_credentials")
    clock.advance(minutes=15, seconds=1)
    assert api.login("acme").status_code == 200
    # a success clears the count: nine more failures do not lock
    for attempt in range(9):
        api.login("acme", password=f"wrong password {attempt}")
    assert api.login("acme").status_code == 200


def test_lockout_applies_to_unknown_emails_too(api: Api) -> None:
    api.provision("acme")
    for _ in range(10):
        api.login("acme", email="ghost@acme.example")
    assert error_of(api.login("acme", email="ghost@acme.example")) == (429, "too_many_attempts")


def test_logout_revokes_the_token_at_once(api: Api) -> None:
    token = api.admin_token("acme")
    other = api.login("acme").json_body["token"]
    assert api.call("POST", "/auth/logout", token=token).json_body == {"status": "ok"}
    assert error_of(api.call("GET", "/me", token=token)) == (401, "invalid_token")
    assert api.call("GET", "/me", token=other).status_code == 200


def test_me_describes_the_caller(api: Api) -> None:
    token = api.admin_token("acme")
    body = api.call("GET", "/me", token=token).json_body
    assert body["domain"] == "acme" and body["role"] == "admin"
    assert body["two_factor"] == {"method": None, "enrolled": False}
    assert body["auth_provider"] == "password" and body["status"] == "active"


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "unauthenticated"),
        ("Bearer", "invalid_token"),
        ("Basic abc", "invalid_token"),
        ("Bearer acme.01m8a7cynkbvze55jkdypexhtp." + "A" * 43, "invalid_token"),
    ],
)
def test_requests_without_a_valid_token(api: Api, authorization: str | None, code: str) -> None:
    api.provision("acme")
    headers = {"Authorization": authorization} if authorization else {}
    assert error_of(api.call("GET", "/me", headers=headers)) == (401, code)


def test_tokens_expire(api: Api, clock: Any) -> None:
    token = api.admin_token("acme")
    clock.advance(hours=11, minutes=59)
    assert api.call("GET", "/me", token=token).status_code == 200
    clock.advance(minutes=2)
    assert error_of(api.call("GET", "/me", token=token)) == (401, "invalid_token")


def test_a_suspended_domain_refuses_logins_and_tokens(api: Api) -> None:
    token = api.admin_token("acme")
    set_domain_status("acme", DomainStatus.SUSPENDED)
    assert error_of(api.login("acme")) == (403, "domain_suspended")
    assert error_of(api.call("GET", "/me", token=token)) == (403, "domain_suspended")
    assert error_of(api.login("acme", password="wrong password here")) == (401, "invalid_credentials")


def test_a_deactivated_user_cannot_log_in(api: Api) -> None:
    api.provision("acme")
    member = add_user("acme", "mo@acme.example")
    assert api.login("acme", email="mo@acme.example").status_code == 200
    set_user_status(member, UserStatus.DEACTIVATED)
    assert error_of(api.login("acme", email="mo@acme.example")) == (403, "user_deactivated")
    assert error_of(api.login("acme", email="mo@acme.example", password="wrong password here")) == (
        401,
        "invalid_credentials",
    )


def test_an_invited_user_has_no_password_yet(api: Api) -> None:
    api.provision("acme")
    add_user("acme", "new@acme.example", status=UserStatus.INVITED)
    assert error_of(api.login("acme", email="new@acme.example", password=ADMIN_PASSWORD)) == (
        401,
        "invalid_credentials",
    )


def test_the_domain_is_matched_without_regard_to_case(api: Api) -> None:
    api.provision("acme")
    assert api.login(" ACME ", email="admin@acme.example").status_code == 200
    assert error_of(api.login("acme.example.com")) == (400, "invalid_domain")


def test_login_input_is_checked(api: Api) -> None:
    api.provision("acme")
    bad_client = api.call(
        "POST", "/auth/login", {"domain": "acme", "email": "a@b.co", "password": "x", "client": "fax"}
    )
    assert error_of(bad_client) == (400, "invalid_enum")
    assert "client" in bad_client.json_body["error"]["message"]
    no_password = api.call("POST", "/auth/login", {"domain": "acme", "email": "a@b.co"})
    assert error_of(no_password) == (400, "missing_field")
    assert no_password.json_body["error"]["message"].startswith("password:")
