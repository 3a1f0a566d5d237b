"""The rules of 2FA (domain/two_factor.py), without AWS: RFC 6238, drift, replay, challenges,
resends, recovery codes and trusted browsers, with fixed times instead of sleeps."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core.errors import TooManyRequests, Unauthorized
from chalicelib.domain import two_factor as tf
from chalicelib.domain.models import (
    AuthProvider,
    ClientKind,
    Role,
    SecurityPolicy,
    TwoFactorMethod,
    User,
    UserStatus,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()  # RFC 6238 appendix B, SHA-1 key

# RFC 6238 appendix B, SHA-1: (unix time, the 8-digit TOTP). A 6-digit code is its last 6 digits
# (the same truncated number, modulo 10^6).
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(("unix_time", "totp8"), RFC_VECTORS)
def test_rfc_6238_sha1_vectors_through_our_verification(unix_time: int, totp8: str) -> None:
    step = tf.matching_totp_step(RFC_SECRET, totp8[-6:], at(unix_time))
    assert step == unix_time // 30


@pytest.mark.parametrize(("unix_time", "totp8"), RFC_VECTORS)
def test_a_neighbouring_code_is_not_the_vector(unix_time: int, totp8: str) -> None:
    wrong = f"{(int(totp8[-6:]) + 1) % 1_000_000:06d}"
    assert tf.matching_totp_step(RFC_SECRET, wrong, at(unix_time)) is None


def test_one_step_of_drift_either_way_and_no_more() -> None:
    code_at_59 = "287082"  # step 1
    assert tf.matching_totp_step(RFC_SECRET, code_at_59, at(59 + 30)) == 1  # server one step ahead
    assert tf.matching_totp_step(RFC_SECRET, code_at_59, at(59 - 30)) == 1  # server one step behind
    assert tf.matching_totp_step(RFC_SECRET, code_at_59, at(59 + 60)) is None
    assert tf.matching_totp_step(RFC_SECRET, "081804", at(1111111109 - 60)) is None


def test_a_step_already_accepted_is_refused() -> None:
    assert tf.matching_totp_step(RFC_SECRET, "287082", at(59), after_step=0) == 1
    assert tf.matching_totp_step(RFC_SECRET, "287082", at(59), after_step=1) is None
    assert tf.matching_totp_step(RFC_SECRET, "287082", at(59), after_step=2) is None


def test_the_otpauth_uri_is_the_key_uri_format() -> None:
    uri = tf.otpauth_uri("JBSWY3DPEHPK3PXP", "ann+x@acme.example")
    assert (
        uri
        == "otpauth://totp/Office%20Chat:ann%2Bx@acme.example?secret=JBSWY3DPEHPK3PXP&issuer=Office%20Chat"
    )


def test_new_secrets_are_160_bits_of_base32() -> None:
    secret = tf.new_totp_secret()
    assert len(base64.b32decode(secret)) == 20
    assert secret != tf.new_totp_secret()


def user(provider: AuthProvider = AuthProvider.PASSWORD) -> User:
    return User(
        id="u1",
        domain="acme",
        email="ann@acme.example",
        first_name="Ann",
        last_name="A",
        role=Role.MEMBER,
        status=UserStatus.ACTIVE,
        created_at=NOW,
        auth_provider=provider,
    )


@pytest.mark.parametrize("client", list(ClientKind))
@pytest.mark.parametrize("method", list(TwoFactorMethod))
@pytest.mark.parametrize("provider", list(AuthProvider))
def test_who_is_challenged(client: ClientKind, method: TwoFactorMethod, provider: AuthProvider) -> None:
    expected = (
        method is not TwoFactorMethod.OFF
        and client in (ClientKind.WEB, ClientKind.DESKTOP, ClientKind.MAC)
        and provider is AuthProvider.PASSWORD
    )
    assert tf.is_challenged(SecurityPolicy(method=method), user(provider), client) is expected


def test_the_method_a_user_object_shows() -> None:
    assert tf.method_of(SecurityPolicy(TwoFactorMethod.TOTP), user()) is TwoFactorMethod.TOTP
    assert tf.method_of(SecurityPolicy(TwoFactorMethod.OFF), user()) is None
    assert tf.method_of(SecurityPolicy(TwoFactorMethod.EMAIL), user(AuthProvider.SAML)) is None


def challenge(**changes: object) -> tf.Challenge:
    base = tf.Challenge(
        id_hash="h",
        domain="acme",
        user_id="u1",
        method=TwoFactorMethod.EMAIL,
        client=ClientKind.WEB,
        created_at=NOW,
        expires_at=NOW + tf.CHALLENGE_LIFETIME,
        code_sent_at=NOW,
    )
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_challenge_lives_ten_minutes() -> None:
    live = challenge()
    assert tf.check_usable(live, NOW + timedelta(minutes=9, seconds=59)) is live
    with pytest.raises(Unauthorized) as expired:
        tf.check_usable(live, NOW + timedelta(minutes=10))
    assert expired.value.code == "challenge_expired"
    with pytest.raises(Unauthorized):
        tf.check_usable(None, NOW)


def test_the_fifth_wrong_code_kills_the_challenge() -> None:
    assert tf.check_usable(challenge(wrong_codes=4), NOW)
    with pytest.raises(TooManyRequests) as dead:
        tf.check_usable(challenge(wrong_codes=5), NOW + timedelta(minutes=1))
    assert dead.value.code == "too_many_attempts"
    assert dead.value.retry_after == 540


def test_one_email_a_minute_the_first_included() -> None:
    sent = challenge()
    with pytest.raises(TooManyRequests) as early:
        tf.check_resend_allowed(sent, NOW + timedelta(seconds=59, milliseconds=500))
    assert (early.value.code, early.value.retry_after) == ("rate_limited", 1)
    tf.check_resend_allowed(sent, NOW + timedelta(seconds=60))


def test_email_codes_are_six_digits_and_hashed_with_the_challenge_id() -> None:
    codes = {tf.new_email_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150
    hashed = challenge(code_hash=tf.email_code_hash("challenge-1", "123456"))
    assert tf.email_code_matches(hashed, "challenge-1", "123456")
    assert not tf.email_code_matches(hashed, "challenge-2", "123456")
    assert not tf.email_code_matches(hashed, "challenge-1", "123457")


def test_recovery_codes_are_ten_distinct_and_typed_loosely() -> None:
    codes = tf.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    first = codes[0]
    assert tf.recovery_code_hash(first.upper()) == tf.recovery_code_hash(first.replace("-", " "))
    assert not tf.looks_like_one_time_code(tf.normalize_code(first))
    assert tf.looks_like_one_time_code(tf.normalize_code(" 123 456 "))


def test_a_change_of_method_moves_the_epoch_a_change_of_period_does_not() -> None:
    policy = SecurityPolicy(TwoFactorMethod.EMAIL, 7, epoch=3)
    assert policy.changed_to(TwoFactorMethod.EMAIL, 30).epoch == 3
    assert policy.changed_to(TwoFactorMethod.TOTP, 7).epoch == 4


def test_trust_holds_for_the_period_under_the_same_epoch() -> None:
    policy = SecurityPolicy(TwoFactorMethod.EMAIL, 7, epoch=2)
    until = tf.trusted_until(policy, NOW)
    assert until == NOW + timedelta(days=7)
    trusted = tf.TrustedBrowser("h", NOW, until, epoch=2)
    assert tf.trust_holds(trusted, policy, NOW + timedelta(days=6, hours=23))
    assert not tf.trust_holds(trusted, policy, NOW + timedelta(days=7))
    assert not tf.trust_holds(trusted, SecurityPolicy(TwoFactorMethod.EMAIL, 7, epoch=3), NOW)
    assert not tf.trust_holds(trusted, SecurityPolicy(TwoFactorMethod.EMAIL, 0, epoch=2), NOW)
    assert not tf.trust_holds(
        trusted, SecurityPolicy(TwoFactorMethod.EMAIL, 1, epoch=2), NOW + timedelta(days=2)
    )
    assert not tf.trust_holds(None, policy, NOW)
    assert tf.trusted_until(SecurityPolicy(TwoFactorMethod.EMAIL, 0), NOW) is None
