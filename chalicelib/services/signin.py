"""What every way of signing in shares: the new session, the domain check, the account's
lockout, and the two answers a sign-in can give (signed in, or a second step to pass)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.clock import Clock
from chalicelib.core.errors import AppError, Forbidden, TooManyRequests
from chalicelib.core.log import get_logger
from chalicelib.domain import rules
from chalicelib.domain.devices import Device
from chalicelib.domain.models import ClientKind, Domain, DomainStatus, LoginFailures, Session, User
from chalicelib.repositories.dynamo import ConditionFailed
from chalicelib.repositories.sessions import LoginRepository
from chalicelib.services import tokens

log = get_logger(__name__)


@dataclass(frozen=True)
class LoginResult:
    token: str
    session: Session
    user: User
    domain: Domain


@dataclass(frozen=True)
class IssuedChallenge:
    """A sign-in that needs its second step (API.md §2): no token yet."""

    challenge_id: str
    method: str
    enroll: bool
    expires_at: datetime
    domain: Domain
    otpauth_uri: str | None = None
    qr_svg: str | None = None
    sent_to: str | None = None  # the email a code went to, partly hidden


SignIn = LoginResult | IssuedChallenge


def new_session(
    domain: str, user_id: str, client: ClientKind, now: datetime, device: Device | None = None
) -> tuple[str, Session]:
    """A fresh bearer token and the session to store for it (only the token's hash); bound to
    the device, and to its current epoch, when there is one."""
    token = tokens.new_token(domain, user_id, device.device_id if device else None)
    session = Session(
        token_hash=tokens.hash_token(token),
        domain=domain,
        user_id=user_id,
        client=client,
        created_at=now,
        expires_at=rules.token_expiry(client, now),
        device_id=device.device_id if device else None,
        device_epoch=device.epoch if device else 0,
    )
    return token, session


def check_domain_open(domain: Domain) -> None:
    if domain.status is not DomainStatus.ACTIVE:
        raise Forbidden("This domain is suspended; contact the Office Chat operator.", "domain_suspended")


def sso_required(user: User) -> Forbidden:
    """Google and SAML accounts never sign in by password (until single sign-on exists, not at all)."""
    provider = {"google": "Google", "saml": "SAML"}.get(user.auth_provider.value, user.auth_provider.value)
    return Forbidden(f"This account signs in with {provider} single sign-on, not a password.", "sso_required")


class Lockout:
    """The account's lockout (API.md §2): 10 failures in 15 minutes, wrong passwords and wrong
    codes together, across every challenge, lock every login and every open challenge of the
    email for 15 minutes after the failure that locked it.

    Every attempt is counted before its password or code is checked, by one atomic conditional
    write (`LoginRepository.count_attempt`): two attempts at the same moment never both read a
    count of 9 and both get checked, and the 11th is refused (429) without being checked. A
    right password gives its attempt back (`Attempt.succeeded_without_sign_in`); a sign-in
    clears the count; a wrong one keeps it and locks the account when the window is full."""

    def __init__(self, logins: LoginRepository, clock: Clock) -> None:
        self._logins = logins
        self._clock = clock

    def begin(
        self,
        domain: str,
        email: str,
        known: LoginFailures | None = None,
        also: dict[str, Any] | None = None,
        also_refused: Callable[[], AppError] | None = None,
    ) -> Attempt:
        """Counts the attempt, or raises 429 `too_many_attempts` while the account is locked or
        its window full. `known`, the failures as the caller read them, picks the likelier write
        first; `also` is written in the same transaction, and `also_refused()` is raised when its
        condition fails."""
        fresh_first = known is None or known.window_start <= self._clock.now() - rules.LOGIN_WINDOW
        for _ in range(_COUNT_TRIES):
            now = self._clock.now()
            for fresh in (fresh_first, not fresh_first):
                try:
                    self._logins.count_attempt(
                        domain, email, now, rules.LOGIN_WINDOW, rules.LOGIN_MAX_FAILURES, fresh, also
                    )
                    return Attempt(self, domain, email)
                except ConditionFailed as refused:
                    if also_refused is not None and 1 in refused.failed:
                        raise also_refused() from None
            # Neither write took: locked, full, or changed between the two writes.
            _check_room(self._logins.failures(domain, email), now)
        log.warning("sign-in attempt not counted after retries", extra={"fields": {"domain": domain}})
        raise _too_many(1)  # closed, not open: an attempt that cannot be counted is not checked

    def record_failure(self, domain: str, email: str) -> None:
        until = self._clock.now() + rules.LOGIN_WINDOW
        if self._logins.lock_if_full(domain, email, until, rules.LOGIN_MAX_FAILURES):
            log.warning("account locked after failed sign-ins", extra={"fields": {"domain": domain}})

    def give_back(self, domain: str, email: str) -> None:
        self._logins.uncount_attempt(domain, email)


@dataclass(frozen=True)
class Attempt:
    """One counted attempt; what became of it decides what happens to the count."""

    lockout: Lockout
    domain: str
    email: str

    def failed(self) -> None:
        """A wrong password or code: it stays counted, and locks the account if it fills the window."""
        self.lockout.record_failure(self.domain, self.email)

    def succeeded_without_sign_in(self) -> None:
        """A right password that leads to a challenge, or to a refusal that is not a failure
        (deactivated user, suspended domain...): the attempt is given back. (A sign-in needs no
        call: it clears the count in its own transaction.)"""
        self.lockout.give_back(self.domain, self.email)


_COUNT_TRIES = 3


def _check_room(failures: LoginFailures | None, now: datetime) -> None:
    """429 if the account is locked or its window holds all its attempts (some may still be
    being checked: the lock, if any, follows at once); otherwise the caller tries again."""
    rules.check_not_locked(failures, now)
    if failures is None or now - failures.window_start >= rules.LOGIN_WINDOW:
        return
    if failures.count >= rules.LOGIN_MAX_FAILURES:
        window_ends = failures.window_start + rules.LOGIN_WINDOW
        raise _too_many(int((window_ends - now).total_seconds()) + 1)


def _too_many(retry_after: int) -> TooManyRequests:
    return TooManyRequests(
        "Too many failed sign-in attempts for this account; try again later.",
        retry_after=retry_after,
        code="too_many_attempts",
    )
