"""API.md §2, security review item 1: wrong codes count with wrong passwords towards the account's
lockout across every challenge; a locked account's challenges answer 429 even to the right code,
which is then not checked; a user has one open challenge; a late failure leaves a running lock
alone; and the count holds when attempts arrive at the same moment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest

from chalicelib.core import aws
from chalicelib.core.clock import FixedClock, iso_ms
from chalicelib.core.errors import TooManyRequests
from chalicelib.domain import rules
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.sessions import LoginRepository
from chalicelib.services.signin import Lockout
from chalicelib.services.two_factor import TwoFactorService
from tests.conftest import Api, error_of
from tests.integration.test_two_factor_api import (
    MEMBER_EMAIL,
    answer,
    challenge_of,
    enrol,
    last_code,
    login,
    member,
    secret_of,
    set_security,
)


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def wrong_for(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def wrong_password(api: Api) -> None:
    body = {"domain": "acme", "email": MEMBER_EMAIL, "password": "not the password at all"}
    assert error_of(api.call("POST", "/auth/login", body)) == (401, "invalid_credentials")


def failures_item() -> dict[str, Any]:
    item = Table().get(*LoginRepository.failures_key("acme", MEMBER_EMAIL))
    assert item is not None
    return item


class CheckSpy:
    """Counts the codes TwoFactorService actually checks (its `_check`), around the real one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = TwoFactorService._check

        def spy(service: TwoFactorService, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(service, *args, **kwargs)

        monkeypatch.setattr(TwoFactorService, "_check", spy)


def test_three_challenges_share_one_lockout_and_the_eleventh_guess_never_happens(
    api: Api, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 + 4 + 2 wrong codes over three challenges lock the account: no challenge accepts its
    right code afterwards. The two older ones were ended by the newer ones (401 as an unknown
    challenge); the open one answers 429 with Retry-After, without checking the code."""
    set_security(api, admin, "email")
    member()
    opened = []
    for wrong_codes in (4, 4, 2):
        challenge = challenge_of(login(api))
        code = last_code()
        for _ in range(wrong_codes):
            assert error_of(answer(api, challenge, wrong_for(code))) == (401, "invalid_code")
        opened.append((challenge, code))
    spy = CheckSpy(monkeypatch)
    (first, first_code), (second, second_code), (last, last_code_) = opened
    locked = answer(api, last, last_code_)  # the 11th guess, and the right code
    assert error_of(locked) == (429, "too_many_attempts")
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    assert spy.calls == 0  # refused before the code was looked at
    assert error_of(answer(api, first, first_code)) == (401, "challenge_expired")
    assert error_of(answer(api, second, second_code)) == (401, "challenge_expired")
    assert spy.calls == 0
    assert error_of(login(api)) == (429, "too_many_attempts")  # and no new challenge either
    assert failures_item()["failed_count"] == 10


def test_a_new_challenge_ends_the_older_one(api: Api, admin: str) -> None:
    set_security(api, admin, "email")
    member()
    older = challenge_of(login(api))
    older_code = last_code()
    newer = challenge_of(login(api))
    newer_code = last_code()
    assert error_of(answer(api, older, older_code)) == (401, "challenge_expired")
    resend = api.call("POST", "/auth/2fa/resend", {"challenge_id": older["id"]})
    assert error_of(resend) == (401, "challenge_expired")
    assert answer(api, newer, newer_code).status_code == 200


def test_wrong_passwords_and_codes_lock_every_way_of_presenting_a_code(
    api: Api, admin: str, clock: Any
) -> None:
    """A challenge opened before the lock: neither the right app code nor an unused recovery
    code gets through while the lock runs; both work again once it is over."""
    set_security(api, admin, "totp")
    member()
    secret, passed = enrol(api, clock)
    recovery = passed.json_body["recovery_codes"]
    clock.advance(minutes=1)
    challenge = challenge_of(login(api))
    right = pyotp.TOTP(secret).at(clock.now())
    for _ in range(9):
        wrong_password(api)
    assert error_of(answer(api, challenge, wrong_for(right))) == (401, "invalid_code")  # the 10th
    for code in (right, recovery[0]):
        assert error_of(answer(api, challenge, code)) == (429, "too_many_attempts")
    clock.advance(minutes=9)  # the lock still runs; the challenge is about to expire
    assert error_of(answer(api, challenge, recovery[0])) == (429, "too_many_attempts")
    clock.advance(minutes=6, seconds=1)
    later = challenge_of(login(api))
    used = answer(api, later, recovery[0])
    assert used.status_code == 200, used.body
    assert used.json_body["recovery_codes_left"] == 9  # the refused tries did not spend it


def test_the_enrolment_code_is_locked_out_too(api: Api, admin: str, clock: Any) -> None:
    set_security(api, admin, "totp")
    member()
    for wrong_codes in (4, 4, 2):
        challenge = challenge_of(login(api))
        assert challenge["enroll"] is True
        for _ in range(wrong_codes):
            assert error_of(answer(api, challenge, "000000")) == (401, "invalid_code")
    right = pyotp.TOTP(secret_of(challenge)).at(clock.now())
    assert error_of(answer(api, challenge, right)) == (429, "too_many_attempts")
    me = api.call("GET", "/admin/users?two_factor=enrolled", token=admin).json_body["items"]
    assert me == []  # the secret did not become the user's


def test_a_late_failure_leaves_a_running_lock_alone(api: Api, admin: str, clock: Any) -> None:
    """One failure opens the 15-minute window; the 10th, 14 minutes later, locks until 15
    minutes after it. Two minutes on, the window is over but the lock runs: a wrong code then
    neither ends nor shortens the lock (it is refused, and the stored lock is unchanged)."""
    set_security(api, admin, "email")
    member()
    wrong_password(api)  # failure 1, opens the window
    clock.advance(minutes=14)
    for _ in range(4):
        wrong_password(api)  # failures 2-5
    challenge = challenge_of(login(api))
    code = last_code()
    for _ in range(4):  # failures 6-9
        assert error_of(answer(api, challenge, wrong_for(code))) == (401, "invalid_code")
    latest = challenge_of(login(api))
    latest_code = last_code()
    assert error_of(answer(api, latest, wrong_for(latest_code))) == (401, "invalid_code")  # 10th
    locked_until = failures_item()["locked_until"]
    assert locked_until == iso_ms(clock.now() + timedelta(minutes=15))

    clock.advance(minutes=2)  # the window (from failure 1) is over; the lock is not
    assert error_of(answer(api, latest, wrong_for(latest_code))) == (429, "too_many_attempts")
    assert failures_item()["locked_until"] == locked_until
    still = login(api)
    assert error_of(still) == (429, "too_many_attempts")
    assert int(still.headers["Retry-After"]) == 13 * 60 + 1
    clock.advance(minutes=12, seconds=59)
    assert error_of(login(api)) == (429, "too_many_attempts")
    clock.advance(seconds=1)
    assert challenge_of(login(api))


def test_a_lock_is_never_moved_earlier(aws_env: None) -> None:
    """The repository's own guard, whatever the caller: a failure that would lock until an
    earlier time than the running lock leaves it as it is."""
    logins = LoginRepository(Table())
    now = FixedClock().now()
    for _ in range(rules.LOGIN_MAX_FAILURES):
        fresh = logins.failures("acme", MEMBER_EMAIL) is None
        logins.count_attempt("acme", MEMBER_EMAIL, now, rules.LOGIN_WINDOW, rules.LOGIN_MAX_FAILURES, fresh)
    assert logins.lock_if_full("acme", MEMBER_EMAIL, now + timedelta(minutes=15), rules.LOGIN_MAX_FAILURES)
    assert not logins.lock_if_full("acme", MEMBER_EMAIL, now + timedelta(minutes=5), rules.LOGIN_MAX_FAILURES)
    stored = logins.failures("acme", MEMBER_EMAIL)
    assert stored is not None and stored.locked_until == now + timedelta(minutes=15)


def test_attempts_at_the_same_moment_cannot_both_be_the_tenth(api: Api, admin: str, clock: Any) -> None:
    """Nine failures; then two attempts whose checks are both in flight: the first is counted
    (the 10th); the second is refused before its check, with nothing read in between, because
    the count is one atomic conditional write, not a read then a write."""
    set_security(api, admin, "email")
    member()
    for _ in range(9):
        wrong_password(api)
    lockout = Lockout(LoginRepository(Table()), clock)
    tenth = lockout.begin("acme", MEMBER_EMAIL)
    with pytest.raises(TooManyRequests) as refused:
        lockout.begin("acme", MEMBER_EMAIL)
    assert refused.value.code == "too_many_attempts"
    tenth.failed()
    assert error_of(login(api)) == (429, "too_many_attempts")
    assert failures_item()["failed_count"] == 10


def test_the_right_code_arriving_while_the_tenth_guess_is_checked_is_refused(
    api: Api, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race through the routes: while the 10th guess (a wrong code) is being checked,
    the right code arrives on the same challenge. It answers 429 and is never checked."""
    set_security(api, admin, "email")
    member()
    for _ in range(8):
        wrong_password(api)
    challenge = challenge_of(login(api))
    code = last_code()
    assert error_of(answer(api, challenge, wrong_for(code))) == (401, "invalid_code")  # 9th
    real = TwoFactorService._check
    seen: list[Any] = []

    def slow_check(service: TwoFactorService, *args: Any, **kwargs: Any) -> Any:
        if not seen:  # the 10th guess, in flight: the right code arrives now
            seen.append(answer(api, challenge, code))
        else:
            seen.append("checked")
        return real(service, *args, **kwargs)

    monkeypatch.setattr(TwoFactorService, "_check", slow_check)
    assert error_of(answer(api, challenge, wrong_for(code))) == (401, "invalid_code")
    concurrent = seen[0]
    assert error_of(concurrent) == (429, "too_many_attempts")
    assert seen[1:] == []  # the right code was never checked
