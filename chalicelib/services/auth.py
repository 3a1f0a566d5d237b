"""Login, logout and the authentication of every request."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.core import metrics
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import Conflict, Forbidden, InvalidField, Unauthorized
from chalicelib.core.log import annotate, get_logger
from chalicelib.domain import devices, rules, two_factor
from chalicelib.domain.devices import Device, DeviceInfo, DeviceStatus
from chalicelib.domain.models import (
    AuthProvider,
    ClientKind,
    Domain,
    DomainStatus,
    Principal,
    Retention,
    Role,
    Session,
    User,
    UserStatus,
)
from chalicelib.notifications.email import Email, EmailSender
from chalicelib.repositories.devices import DeviceRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.users import UserRepository
from chalicelib.services import tokens
from chalicelib.services.passwords import PasswordHasher
from chalicelib.services.signin import (
    IssuedChallenge,
    Lockout,
    LoginResult,
    SignIn,
    check_domain_open,
    new_session,
    sso_required,
)

if TYPE_CHECKING:
    from chalicelib.services.two_factor import TwoFactorService

log = get_logger(__name__)

INVALID_CREDENTIALS = "The email or password is wrong."
INVALID_TOKEN = "The token is unknown, expired or revoked; sign in again."  # noqa: S105 - a message
MOBILE_CLIENTS = (ClientKind.IOS, ClientKind.ANDROID)


class AuthService:
    def __init__(
        self,
        table: Table,
        logins: LoginRepository,
        sessions: SessionRepository,
        users: UserRepository,
        devices: DeviceRepository,
        hasher: PasswordHasher,
        two_factor: TwoFactorService,
        mailer: EmailSender,
        clock: Clock,
    ) -> None:
        self._table = table
        self._logins = logins
        self._lockout = Lockout(logins, clock)
        self._sessions = sessions
        self._users = users
        self._devices = devices
        self._hasher = hasher
        self._two_factor = two_factor
        self._mailer = mailer
        self._clock = clock

    def login(
        self,
        domain_name: str,
        email: str,
        password: str,
        client: ClientKind,
        device_info: DeviceInfo | None = None,
        trusted_token: str | None = None,
    ) -> SignIn:
        """Four AWS calls on success: one BatchGetItem (domain, credentials, failures), the
        attempt counted against the lockout before the password is checked (an atomic update),
        one read of the user (with the device, for the apps, or the browser's trusted token), one
        transaction (the token, the device, the clearing of the count). Where 2FA applies, the
        last write is the challenge instead, the attempt is given back, and earlier failures stay
        until the challenge is passed. A device new to the user is announced by email."""
        if client in MOBILE_CLIENTS and device_info is None:
            raise InvalidField(
                "device", "is required when signing in from the iOS or Android app", "device_required"
            )
        now = self._clock.now()
        email = email.strip().lower()
        annotate(domain=domain_name)
        domain, credentials, failures = self._logins.load(domain_name, email)
        rules.check_not_locked(failures, now)
        if domain is None:  # no writes for made-up domain names; the same answer, in the same time
            self._hasher.verify(None, password)
            metrics.count("Logins", outcome="failed", domain=domain_name)
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        if domain.status is DomainStatus.DELETING:  # before any write: its purge must not race one
            check_domain_open(domain)
        attempt = self._lockout.begin(domain_name, email, known=failures)
        password_ok = self._hasher.verify(credentials.password_hash if credentials else None, password)
        if credentials is None or not password_ok:
            attempt.failed()
            metrics.count("Logins", outcome="failed", domain=domain_name)
            if credentials is None and failures is None:  # the stranger's count starts a partition
                self._logins.register_email(domain_name, email)
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        try:
            signed_in = self._after_password(
                domain, credentials.user_id, client, device_info, trusted_token, now
            )
        except Unauthorized:  # answered as a wrong password, so counted as one: the count tells nothing
            attempt.failed()
            metrics.count("Logins", outcome="failed", domain=domain_name)
            raise
        except BaseException:
            attempt.succeeded_without_sign_in()
            raise
        if isinstance(signed_in, IssuedChallenge):
            attempt.succeeded_without_sign_in()
        outcome = "challenged" if isinstance(signed_in, IssuedChallenge) else "signed_in"
        metrics.count("Logins", outcome=outcome, domain=domain_name)
        return signed_in

    def _after_password(
        self,
        domain: Domain,
        user_id: str,
        client: ClientKind,
        device_info: DeviceInfo | None,
        trusted_token: str | None,
        now: datetime,
    ) -> SignIn:
        device_id = device_info.device_id if client in MOBILE_CLIENTS and device_info else None
        trusted_hash = _trusted_hash(trusted_token, domain.name, user_id)
        read = self._sessions.load_sign_in(domain.name, user_id, device_id, trusted_hash)
        user = read.user
        if user is None or user.deletion_requested:
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        check_domain_open(domain)
        if user.status is UserStatus.DEACTIVATED:
            raise Forbidden("This account has been deactivated by an administrator.", "user_deactivated")
        if user.status is not UserStatus.ACTIVE:
            raise Unauthorized(INVALID_CREDENTIALS, "invalid_credentials")
        if user.auth_provider is not AuthProvider.PASSWORD:
            raise sso_required(user)
        if two_factor.is_challenged(domain.security, user, client) and not two_factor.trust_holds(
            read.trusted, domain.security, now
        ):
            return self._two_factor.issue(domain, user, client)
        return self._sign_in(domain, user, client, device_info, device_id, read.device)

    def _sign_in(
        self,
        domain: Domain,
        user: User,
        client: ClientKind,
        device_info: DeviceInfo | None,
        device_id: str | None,
        known_device: Device | None,
    ) -> LoginResult:
        now = self._clock.now()
        writes = []
        device = None
        if device_info is not None and device_id is not None:
            device = devices.register_login(
                known_device, device_info, user.name, user.email, domain.name, user.id, now
            )
            # Conditional on the device as read (absent, for a new one): of two first logins of
            # a device at the same moment, one writes it, and only that one announces it.
            writes.append(self._devices.put_op(device, known_device))
        token, session = new_session(domain.name, user.id, client, now, device)
        writes.append(self._sessions.create_op(session))
        writes.append(self._logins.clear_failures_op(domain.name, user.email))
        try:
            self._table.transact(writes)
        except ConditionFailed:
            raise Conflict(
                "This device changed at the same moment; sign in again.", "concurrent_change"
            ) from None
        if device is not None and devices.is_new_to_user(known_device):
            self._announce_device(user, device, now)
        return LoginResult(token=token, session=session, user=user, domain=domain)

    def _announce_device(self, user: User, device: Device, now: datetime) -> None:
        """The new-device notice (API.md §2): a stolen password used from a phone does not go
        unnoticed. A failed send is logged; the sign-in stands."""
        subject, text = devices.new_device_notice(device, user.first_name or user.email, iso(now))
        try:
            self._mailer.send(Email(to=user.email, subject=subject, text=text))
        except Exception:
            log.exception(
                "new-device notice not sent", extra={"fields": {"user_id": user.id, "domain": user.domain}}
            )

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
        return Principal(
            domain=domain.name,
            user=user,
            session=session,
            device=device,
            security=domain.security,
            services_off=domain.services_off,
            retention=Retention(domain.retention_days),
        )

    def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            self._sessions.delete(principal.domain, principal.user.id, principal.session.token_hash)


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


def _trusted_hash(trusted_token: str | None, domain: str, user_id: str) -> str | None:
    """The hash to look up for a browser's trusted token, if it is one of this user's; anything
    else (stale, another user's, garbled) simply does not skip the challenge."""
    parsed = tokens.parse_token(trusted_token.strip()) if trusted_token else None
    if parsed is None or parsed.device_id is not None:
        return None
    return parsed.token_hash if (parsed.domain, parsed.user_id) == (domain, user_id) else None


def require_role(principal: Principal, allowed: tuple[Role, ...]) -> None:
    if principal.role not in allowed:
        raise Forbidden("Your role does not allow this action.", "forbidden")


def require_admin_session(principal: Principal) -> None:
    """/admin/* from a session that 2FA would have challenged (API.md §2): where the domain's 2FA
    is on, an iOS or Android session answers 403 `two_factor_required`. Decided from the
    principal alone (the domain's settings come with the token's BatchGetItem): no AWS call."""
    if principal.session is not None:
        two_factor.check_may_administer(principal.security, principal.session.client)
