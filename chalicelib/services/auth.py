"""Login, logout and the authentication of every request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.clock import Clock
from chalicelib.core.errors import Forbidden, Unauthorized
from chalicelib.core.log import get_logger
from chalicelib.domain import rules
from chalicelib.domain.models import (
    ClientKind,
    Domain,
    DomainStatus,
    LoginFailures,
    Principal,
    Role,
    Session,
    User,
    UserStatus,
)
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.users import UserRepository
from chalicelib.services import tokens
from chalicelib.services.passwords import PasswordHasher

log = get_logger(__name__)

INVALID_CREDENTIALS = "The email or password is wrong."


@dataclass(frozen=True)
class LoginResult:
    token: str
    session: Session
    user: User
    domain: Domain


class AuthService:
    def __init__(
        self,
        table: Table,
        logins: LoginRepository,
        sessions: SessionRepository,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
    ) -> None:
        self._table = table
        self._logins = logins
        self._sessions = sessions
        self._users = users
        self._hasher = hasher
        self._clock = clock

    def login(self, domain_name: str, email: str, password: str, client: ClientKind) -> LoginResult:
        """Three AWS calls on success: one BatchGetItem (domain, credentials, failures), one
        GetItem (the user), one write (the token, plus clearing old failures if any)."""
        now = self._clock.now()
        email = email.strip().lower()
        domain, credentials, failures = self._logins.load(domain_name, email)
        rules.check_not_locked(failures, now)
        password_ok = self._hasher.verify(credentials.password_hash if credentials else None, password)
        if domain is None or credentials is None or not password_ok:
            if domain is not None:  # no writes for made-up domain names
                self._count_failure(domain_name, email, failures)
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        user = self._users.get(domain_name, credentials.user_id)
        if user is None:
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        check_domain_open(domain)
        if user.status is UserStatus.DEACTIVATED:
            raise Forbidden("This account has been deactivated by an administrator.", "user_deactivated")
        if user.status is not UserStatus.ACTIVE:
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        token, session = new_session(domain_name, user.id, client, now)
        if failures is None:
            self._sessions.create(session)
        else:
            self._table.transact(
                [self._sessions.create_op(session), self._logins.clear_failures_op(domain_name, email)]
            )
        return LoginResult(token=token, session=session, user=user, domain=domain)

    def _count_failure(self, domain: str, email: str, previous: LoginFailures | None) -> None:
        """Counts a failed login, retrying if a concurrent failure wrote first."""
        for _ in range(5):
            failures = rules.register_failure(previous, self._clock.now())
            try:
                self._logins.save_failures(domain, email, failures, previous)
                return
            except ConditionFailed:
                previous = self._logins.load(domain, email)[2]
        log.warning("login failure not counted after retries", extra={"fields": {"domain": domain}})

    def authenticate(self, authorization: str | None) -> Principal:
        """One BatchGetItem: the token, its user and its domain."""
        if not authorization:
            raise Unauthorized("Sign in first: the Authorization header is missing.", "unauthenticated")
        scheme, _, value = authorization.strip().partition(" ")
        parsed = tokens.parse_token(value.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise Unauthorized("The bearer token is malformed.", "invalid_token")
        domain, user, session = self._sessions.load_request_context(
            parsed.domain, parsed.user_id, parsed.token_hash
        )
        now = self._clock.now()
        if domain is None or user is None or session is None or session.expires_at <= now:
            raise Unauthorized("The token is unknown, expired or revoked; sign in again.", "invalid_token")
        check_domain_open(domain)
        if user.status is not UserStatus.ACTIVE:
            raise Unauthorized("The token is unknown, expired or revoked; sign in again.", "invalid_token")
        return Principal(domain=domain.name, user=user, session=session)

    def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            self._sessions.delete(principal.domain, principal.user.id, principal.session.token_hash)


def new_session(domain: str, user_id: str, client: ClientKind, now: datetime) -> tuple[str, Session]:
    """A fresh bearer token and the session to store for it (only the token's hash)."""
    token = tokens.new_token(domain, user_id)
    session = Session(
        token_hash=tokens.hash_token(token),
        domain=domain,
        user_id=user_id,
        client=client,
        created_at=now,
        expires_at=rules.token_expiry(client, now),
    )
    return token, session


def check_domain_open(domain: Domain) -> None:
    if domain.status is not DomainStatus.ACTIVE:
        raise Forbidden("This domain is suspended; contact the Office Chat operator.", "domain_suspended")


def require_role(principal: Principal, allowed: tuple[Role, ...]) -> None:
    if principal.role not in allowed:
        raise Forbidden("Your role does not allow this action.", "forbidden")
