"""§2 two-factor sign-in and §4 its administration: challenges by email code or authenticator
app (TOTP), enrolment with recovery codes, trusted browsers, the domain's security settings
and "Reset QR code". The rules themselves are in domain/two_factor.py."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.core import metrics
from chalicelib.core.clock import Clock
from chalicelib.core.errors import AppError, Conflict, Forbidden, TooManyRequests, Unauthorized
from chalicelib.core.log import get_logger
from chalicelib.domain import two_factor as rules
from chalicelib.domain.models import (
    AuditEntry,
    ClientKind,
    Domain,
    Principal,
    SecurityPolicy,
    TwoFactorMethod,
    User,
    UserStatus,
)
from chalicelib.domain.two_factor import Challenge, TrustedBrowser
from chalicelib.notifications.email import Email, EmailSender
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.secrets import SecretBox
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.two_factor import ChallengeContext, TotpEnrolment, TwoFactorRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services import tokens
from chalicelib.services.signin import (
    Attempt,
    IssuedChallenge,
    Lockout,
    LoginResult,
    check_domain_open,
    new_session,
)
from chalicelib.services.transaction import Transaction

log = get_logger(__name__)


@dataclass(frozen=True)
class ChallengePassed:
    login: LoginResult
    trusted_token: str | None
    trusted_until: datetime | None
    recovery_codes: list[str] | None = None  # once, when a TOTP enrolment completes
    recovery_codes_left: int | None = None  # when a recovery code stood in for the code


@dataclass(frozen=True)
class CodeResent:
    expires_at: datetime
    next_resend_at: datetime


@dataclass(frozen=True)
class _Proof:
    """What a right code changes besides the sign-in."""

    enrolled: bool = False
    recovery_codes: list[str] | None = None
    recovery_codes_left: int | None = None


def _expired() -> Unauthorized:
    return Unauthorized("This sign-in step expired; sign in again.", "challenge_expired")


class TwoFactorService:
    def __init__(
        self,
        table: Table,
        repository: TwoFactorRepository,
        users: UserRepository,
        index: UserIndexRepository,
        domains: DomainRepository,
        sessions: SessionRepository,
        logins: LoginRepository,
        audit: AuditRepository,
        secrets: SecretBox,
        mailer: EmailSender,
        clock: Clock,
    ) -> None:
        self._table = table
        self._repository = repository
        self._users = users
        self._index = index
        self._domains = domains
        self._sessions = sessions
        self._logins = logins
        self._lockout = Lockout(logins, clock)
        self._audit = audit
        self._secrets = secrets
        self._mailer = mailer
        self._clock = clock

    # --- the second step of a sign-in ------------------------------------------------------------

    def issue(self, domain: Domain, user: User, client: ClientKind) -> IssuedChallenge:
        """Starts the second step: an email code is sent at once; a user of an authenticator app
        with no secret yet gets a new one (kept encrypted on the challenge until the first code).
        The new challenge ends the user's previous one: one open challenge a user."""
        now = self._clock.now()
        challenge_id = tokens.new_token(domain.name, user.id)
        challenge = Challenge(
            id_hash=tokens.hash_token(challenge_id),
            domain=domain.name,
            user_id=user.id,
            method=domain.security.method,
            client=client,
            created_at=now,
            expires_at=now + rules.CHALLENGE_LIFETIME,
        )
        if challenge.method is TwoFactorMethod.EMAIL:
            code = rules.new_email_code()
            challenge = replace(
                challenge, code_hash=rules.email_code_hash(challenge_id, code), code_sent_at=now
            )
            self._repository.put_challenge(challenge)
            self._send_code(user, code)
            return self._issued(challenge_id, challenge, domain, sent_to=_hide(user.email))
        if user.two_factor_enrolled:
            self._repository.put_challenge(challenge)
            return self._issued(challenge_id, challenge, domain)
        secret = rules.new_totp_secret()
        challenge = replace(challenge, enroll=True, pending_secret=self._encrypt(secret, user))
        self._repository.put_challenge(challenge)
        uri = rules.otpauth_uri(secret, user.email)
        return self._issued(challenge_id, challenge, domain, otpauth_uri=uri, qr_svg=_qr_svg(uri))

    @staticmethod
    def _issued(challenge_id: str, challenge: Challenge, domain: Domain, **extra: str) -> IssuedChallenge:
        return IssuedChallenge(
            challenge_id=challenge_id,
            method=challenge.method.value,
            enroll=challenge.enroll,
            expires_at=challenge.expires_at,
            domain=domain,
            **extra,
        )

    def answer(self, challenge_id: str, code: str) -> ChallengePassed:
        """Checks the code (or a recovery code, or the first code of a TOTP enrolment: every way
        of presenting a code comes here) and signs in: one BatchGetItem, one transaction that
        counts the code before it is checked, one KMS Decrypt for an app's code, one transaction.

        The code is counted against the challenge (five kill it) and against the account's
        lockout (API.md §2: ten failures in 15 minutes, passwords and codes, every challenge)
        in one atomic write before it is checked: while the account is locked, or once the
        challenge has had its five, the answer is 429 and the code, right or not, is not checked.
        A sign-in clears the account's count; a wrong code keeps it."""
        context, challenge, user, domain = self._load(challenge_id)
        attempt = self._lockout.begin(
            domain.name,
            user.email,
            also=self._repository.count_code_op(challenge, rules.MAX_WRONG_CODES, self._clock.now()),
            also_refused=lambda: self._refused(challenge),
        )
        now = self._clock.now()
        tx = Transaction(self._table)
        try:
            proof = self._check(context, challenge, challenge_id, rules.normalize_code(code), tx, user, now)
        except AppError:  # no code was judged (the enrolment was reset meanwhile): not a failure
            attempt.succeeded_without_sign_in()
            raise
        if proof is None:
            attempt.failed()
            metrics.count("TwoFactorFailures", domain=domain.name)
            raise rules.invalid_code()
        # Used at the same moment by another request, or ended by a newer challenge meanwhile:
        tx.add(self._repository.consume_challenge_op(challenge), on_condition_failed=rules.invalid_code())
        token, session = new_session(domain.name, user.id, challenge.client, now)
        tx.add(self._sessions.create_op(session))
        trusted_token, until = self._trust(tx, domain, user, now)
        tx.add(self._logins.clear_failures_op(domain.name, user.email))
        signed_in = user
        if proof.enrolled:
            signed_in = replace(user, two_factor_enrolled=True)
            tx.add(self._users.save_op(signed_in, user), *self._index.replace_ops(user, signed_in))
        _commit_or_fail(tx, attempt)
        return ChallengePassed(
            login=LoginResult(token=token, session=session, user=signed_in, domain=domain),
            trusted_token=trusted_token,
            trusted_until=until,
            recovery_codes=proof.recovery_codes,
            recovery_codes_left=proof.recovery_codes_left,
        )

    def _refused(self, challenge: Challenge) -> AppError:
        """Why a code was not even counted: the challenge ended (expired, used, or replaced by a
        newer one: 401 as for an unknown one) or has had its five codes (429)."""
        current = self._repository.get_challenge(challenge.domain, challenge.user_id, challenge.id_hash)
        try:
            rules.check_usable(current, self._clock.now())
        except (Unauthorized, TooManyRequests) as error:
            return error
        return rules.invalid_code()  # changed and changed back meanwhile: a try that did not count

    def resend(self, challenge_id: str) -> CodeResent:
        """A new email code that replaces the old one, at most once a minute per challenge."""
        _, challenge, user, _ = self._load(challenge_id)
        if challenge.method is not TwoFactorMethod.EMAIL:
            raise Conflict(
                "This sign-in step asks for your authenticator app's code; no email is sent.",
                "not_email_challenge",
            )
        now = self._clock.now()
        rules.check_resend_allowed(challenge, now)
        code = rules.new_email_code()
        try:
            self._repository.replace_email_code(challenge, rules.email_code_hash(challenge_id, code), now)
        except ConditionFailed:  # another resend landed first
            raise TooManyRequests(
                "A code was sent a moment ago; wait before asking for another.",
                retry_after=int(rules.RESEND_INTERVAL.total_seconds()),
                code="rate_limited",
            ) from None
        self._send_code(user, code)
        return CodeResent(expires_at=challenge.expires_at, next_resend_at=now + rules.RESEND_INTERVAL)

    def _load(self, challenge_id: str) -> tuple[ChallengeContext, Challenge, User, Domain]:
        parsed = tokens.parse_token(challenge_id.strip())
        if parsed is None or parsed.device_id is not None:
            raise _expired()
        context = self._repository.load_challenge_context(parsed.domain, parsed.user_id, parsed.token_hash)
        challenge = rules.check_usable(context.challenge, self._clock.now())
        user, domain = context.user, context.domain
        if domain is None or user is None or user.deletion_requested:
            raise _expired()
        check_domain_open(domain)
        if user.status is UserStatus.DEACTIVATED:
            raise Forbidden("This account has been deactivated by an administrator.", "user_deactivated")
        if user.status is not UserStatus.ACTIVE:
            raise _expired()
        return context, challenge, user, domain

    def _check(
        self,
        context: ChallengeContext,
        challenge: Challenge,
        challenge_id: str,
        code: str,
        tx: Transaction,
        user: User,
        now: datetime,
    ) -> _Proof | None:
        """The proof a right code gives, with the writes that make it single-use added to `tx`;
        None for a wrong code."""
        if rules.looks_like_one_time_code(code):
            if challenge.method is TwoFactorMethod.EMAIL:
                return _Proof() if rules.email_code_matches(challenge, challenge_id, code) else None
            if challenge.enroll:
                return self._complete_enrolment(challenge, code, tx, user, now)
            return self._check_app_code(context.enrolment, code, tx, user, now)
        return self._use_recovery_code(context.enrolment, code, tx, user)

    def _complete_enrolment(
        self, challenge: Challenge, code: str, tx: Transaction, user: User, now: datetime
    ) -> _Proof | None:
        if challenge.pending_secret is None:
            raise _expired()
        secret = self._decrypt(challenge.pending_secret, user)
        step = rules.matching_totp_step(secret, code, now)
        if step is None:
            return None
        codes = rules.new_recovery_codes()
        hashes = [rules.recovery_code_hash(c) for c in codes]
        tx.add(
            self._repository.enrol_op(user.domain, user.id, challenge.pending_secret, step, hashes, now),
            on_condition_failed=rules.invalid_code(),  # enrolled meanwhile from another challenge
        )
        return _Proof(enrolled=True, recovery_codes=codes)

    def _check_app_code(
        self, enrolment: TotpEnrolment | None, code: str, tx: Transaction, user: User, now: datetime
    ) -> _Proof | None:
        if enrolment is None:  # reset while the challenge was open: enrol again from a new sign-in
            raise _expired()
        secret = self._decrypt(enrolment.secret, user)
        step = rules.matching_totp_step(secret, code, now, after_step=enrolment.last_step)
        if step is None:
            return None
        tx.add(  # the same code at the same moment from elsewhere: a replay
            self._repository.accept_step_op(user.domain, user.id, step),
            on_condition_failed=rules.invalid_code(),
        )
        return _Proof()

    def _use_recovery_code(
        self, enrolment: TotpEnrolment | None, code: str, tx: Transaction, user: User
    ) -> _Proof | None:
        code_hash = rules.recovery_code_hash(code)
        if enrolment is None or code_hash not in enrolment.recovery_hashes:
            return None
        tx.add(
            self._repository.use_recovery_code_op(user.domain, user.id, code_hash),
            on_condition_failed=rules.invalid_code(),
        )
        return _Proof(recovery_codes_left=len(enrolment.recovery_hashes) - 1)

    def _trust(
        self, tx: Transaction, domain: Domain, user: User, now: datetime
    ) -> tuple[str | None, datetime | None]:
        until = rules.trusted_until(domain.security, now)
        if until is None:
            return None, None
        token = tokens.new_token(domain.name, user.id)
        trusted = TrustedBrowser(tokens.hash_token(token), now, until, domain.security.epoch)
        tx.add(self._repository.trust_op(domain.name, user.id, trusted))
        return token, until

    def _send_code(self, user: User, code: str) -> None:
        text = (
            f"Hello {user.first_name or user.email},\n\n"
            f"Your Office Chat sign-in code for {user.domain} is:\n\n    {code}\n\n"
            f"It works once, for 10 minutes. If you did not just sign in, change your password:"
            f" someone else knows it."
        )
        try:
            self._mailer.send(Email(to=user.email, subject="Your Office Chat sign-in code", text=text))
        except Exception:  # the challenge stands; the user can ask for another code in a minute
            log.exception("sign-in code not sent", extra={"fields": {"user_id": user.id}})

    def _encrypt(self, secret: str, user: User) -> bytes:
        return self._secrets.encrypt(secret, _owner(user))

    def _decrypt(self, ciphertext: bytes, user: User) -> str:
        return self._secrets.decrypt(ciphertext, _owner(user))

    # --- §4 administration -------------------------------------------------------------------------

    def settings(self, principal: Principal) -> SecurityPolicy:
        return principal.security

    def update_settings(
        self, principal: Principal, method: TwoFactorMethod, validity_days: int
    ) -> SecurityPolicy:
        """A change of method ends every trusted browser of the domain (the epoch moves on)."""
        before = principal.security
        after = before.changed_to(method, validity_days)
        if after == before:
            return before
        tx = Transaction(self._table)
        tx.add(
            self._domains.save_security_op(principal.domain, after, before),
            on_condition_failed=Conflict(
                "Another admin changed these settings at the same moment; read them again.",
                "concurrent_change",
            ),
        )
        details: dict[str, object] = {
            "two_factor": after.method.value,
            "validity_days": after.validity_days,
            "previous": {"two_factor": before.method.value, "validity_days": before.validity_days},
        }
        tx.add(self._audit_op(principal, "security.updated", f"domain:{principal.domain}", details))
        tx.commit()
        return after

    def reset(self, principal: Principal, user: User) -> User:
        """ "Reset QR code": the secret, the recovery codes, every trusted browser and every token
        of the user go; the next sign-in enrols again."""
        after = replace(user, two_factor_enrolled=False)
        tx = Transaction(self._table)
        if after != user:
            tx.add(
                self._users.save_op(after, user),
                on_condition_failed=Conflict(
                    "This user changed at the same moment; read it again and retry.", "concurrent_change"
                ),
            )
            tx.add(*self._index.replace_ops(user, after))
        tx.add(self._repository.drop_enrolment_op(user.domain, user.id))
        tx.add(self._audit_op(principal, "user.two_factor_reset", f"user:{user.id}", {"email": user.email}))
        tx.commit()
        self._sessions.delete_all_of_user(user.domain, user.id)
        return after

    def _audit_op(
        self, principal: Principal, action: str, target: str, details: dict[str, object]
    ) -> dict[str, object]:
        entry = AuditEntry(
            at=self._clock.now(), actor=principal.user.email, action=action, target=target, details=details
        )
        return self._audit.append_op(principal.domain, entry)


def _commit_or_fail(tx: Transaction, attempt: Attempt) -> None:
    """A right code refused at the commit (replayed at the same moment, a recovery code used
    meanwhile) is a failed attempt like a wrong one."""
    try:
        tx.commit()
    except Unauthorized:
        attempt.failed()
        raise


def _qr_svg(uri: str) -> str:
    """A standalone SVG (with its namespace: it works inline, as an <img> data URI or a file).
    segno is imported here, on an enrolment, not with the app: it pulls in urllib.request,
    http.client and xml (~30 ms of every cold start)."""
    import segno

    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, xmldecl=False, nl=False, title="Office Chat sign-in QR code"
    )
    return buffer.getvalue().decode()


def _owner(user: User) -> dict[str, str]:
    """KMS encryption context: the ciphertext opens only for this user of this domain."""
    return {"domain": user.domain, "user_id": user.id, "purpose": "totp"}


def _hide(email: str) -> str:
    """j•••@acme.com: enough for the user to know which inbox, not a full address."""
    local, _, host = email.partition("@")
    return f"{local[:1]}•••@{host}"
