"""Login, logout and the authentication of every request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.clock import Clock
from chalicelib.core.errors import Conflict, Forbidden, InvalidField, Unauthorized
from chalicelib.core.log import get_logger
from chalicelib.domain import devices, rules
from chalicelib.domain.devices import Device, DeviceInfo, DeviceStatus
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
from chalicelib.repositories.devices import DeviceRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.users import UserRepository
from chalicelib.services import tokens
from chalicelib.services.passwords import PasswordHasher

log = get_logger(__name__)

INVALID_CREDENTIALS = "The email or password is wrong."
INVALID_TOKEN = "The token is unknown, expired or revoked; sign in again."  # noqa: S105 - a message
MOBILE_CLIENTS = (ClientKind.IOS, ClientKind.ANDROID)


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
        devices: DeviceRepository,
        hasher: PasswordHasher,
        clock: Clock,
    ) -> None:
        self._table = table
        self._logins = logins
        self._sessions = sessions
        self._users = users
        self._devices = devices
        self._hasher = hasher
        self._clock = clock

    def login(
        self,
        domain_name: str,
        email: str,
        password: str,
        client: ClientKind,
        device_info: DeviceInfo | None = None,
    ) -> LoginResult:
        """Three AWS calls on success: one BatchGetItem (domain, credentials, failures), one read
        of the user (with the device, for the apps), one write (the token, the device, and the
        clearing of old failures if any)."""
        if client in MOBILE_CLIENTS and device_info is None:
            raise InvalidField(
                "device", "is required when signing in from the iOS or Android app", "device_required"
            )
        now = self._clock.now()
        email = email.strip().lower()
        domain, credentials, failures = self._logins.load(domain_name, email)
        rules.check_not_locked(failures, now)
        password_ok = self._hasher.verify(credentials.password_hash if credentials else None, password)
        if domain is None or credentials is None or not password_ok:
            if domain is not None:  # no writes for made-up domain names
                self._count_failure(domain_name, email, failures)
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        device_id = device_info.device_id if client in MOBILE_CLIENTS and device_info else None
        user, known_device = self._sessions.load_user_and_device(domain_name, credentials.user_id, device_id)
        if user is None or user.deletion_requested:
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        check_domain_open(domain)
        if user.status is UserStatus.DEACTIVATED:
            raise Forbidden("This account has been deactivated by an administrator.", "user_deactivated")
        if user.status is not UserStatus.ACTIVE:
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        writes = []
        device = None
        if device_info is not None and device_id is not None:
            device = devices.register_login(
                known_device, device_info, user.name, user.email, domain_name, user.id, now
            )
            writes.append(self._devices.put_op(device, known_device))
        token, session = new_session(domain_name, user.id, client, now, device)
        writes.append(self._sessions.create_op(session))
        if failures is not None:
            writes.append(self._logins.clear_failures_op(domain_name, email))
        if len(writes) == 1:
            self._sessions.create(session)
        else:
            try:
                self._table.transact(writes)
            except ConditionFailed:
                raise Conflict(
                    "This device changed at the same moment; sign in again.", "concurrent_change"
                ) from None
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

    def authenticate(self, authorization: str | None, heartbeat: bool = False) -> Principal:
        """One BatchGetItem: the token, its user, its domain and, for an app's token, its device
        (plus, at most once a minute per device, the write of its last activity). A device-bound
        token is refused while its device is disabled or must wipe, except by the two heartbeat
        calls (`heartbeat=True`), which always answer for the bound device."""
        if not authorization:
            raise Unauthorized("Sign in first: the Authorization header is missing.", "unauthenticated")
        scheme, _, value = authorization.strip().partition(" ")
        parsed = tokens.parse_token(value.strip()) if scheme.lower() == "bearer" else None
        if parsed is None:
            raise Unauthorized("The bearer token is malformed.", "invalid_token")
        domain, user, session, device = self._sessions.load_request_context(
            parsed.domain, parsed.user_id, parsed.token_hash, parsed.device_id
        )
        now = self._clock.now()
        if domain is None or user is None or session is None or session.expires_at <= now:
            raise Unauthorized(INVALID_TOKEN, "invalid_token")
        if parsed.device_id is not None and (device is None or session.device_id != parsed.device_id):
            raise Unauthorized(INVALID_TOKEN, "invalid_token")
        check_domain_open(domain)
        if user.status is not UserStatus.ACTIVE or user.deletion_requested:
            raise Unauthorized(INVALID_TOKEN, "invalid_token")
        if device is not None:
            if heartbeat:
                _check_device_hears(device, session)
            else:
                _check_device_grants_access(device, session)
            if devices.needs_activity_write(device, now):
                self._devices.touch(device, now, now - devices.ACTIVITY_WRITE_INTERVAL)
        return Principal(domain=domain.name, user=user, session=session, device=device)

    def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            self._sessions.delete(principal.domain, principal.user.id, principal.session.token_hash)


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


def _check_device_hears(device: Device, session: Session) -> None:
    """The heartbeat calls answer the tokens of a disabled device or one that must wipe (so the
    wipe reaches the app), and otherwise only tokens of the device's current epoch: a token
    from before a disable stays dead after the enable, heartbeat included."""
    if device.disabled or device.wipe is devices.Wipe.PENDING:
        return
    if device.wipe is devices.Wipe.DONE or session.device_epoch != device.epoch:
        raise Unauthorized(INVALID_TOKEN, "invalid_token")


def _check_device_grants_access(device: Device, session: Session) -> None:
    status = device.status
    if status is DeviceStatus.WIPE_PENDING:
        raise Forbidden(
            "This device must erase Office Chat's content; ask the app to check in.", "device_wipe_required"
        )
    if status is DeviceStatus.DISABLED:
        raise Forbidden("An administrator disabled this device.", "device_disabled")
    if status is DeviceStatus.WIPED or session.device_epoch != device.epoch:
        raise Unauthorized(INVALID_TOKEN, "invalid_token")


def check_domain_open(domain: Domain) -> None:
    if domain.status is not DomainStatus.ACTIVE:
        raise Forbidden("This domain is suspended; contact the Office Chat operator.", "domain_suspended")


def require_role(principal: Principal, allowed: tuple[Role, ...]) -> None:
    if principal.role not in allowed:
        raise Forbidden("Your role does not allow this action.", "forbidden")
