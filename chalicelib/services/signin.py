"""What every way of signing in shares: the new session, the domain check, failure counting,
and the two answers a sign-in can give (signed in, or a second step to pass)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.clock import Clock
from chalicelib.core.errors import Forbidden
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


def count_failure(logins: LoginRepository, clock: Clock, domain: str, email: str) -> None:
    """Counts a failed sign-in step (a wrong password or a wrong code) against the email's
    lockout, retrying if a concurrent failure wrote first."""
    previous: LoginFailures | None = logins.load(domain, email)[2]
    for _ in range(5):
        failures = rules.register_failure(previous, clock.now())
        try:
            logins.save_failures(domain, email, failures, previous)
            return
        except ConditionFailed:
            previous = logins.load(domain, email)[2]
    log.warning("sign-in failure not counted after retries", extra={"fields": {"domain": domain}})
