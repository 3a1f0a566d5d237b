"""The rules of two-factor sign-in (API.md §2): who is asked, codes, challenges, trusted browsers.

Pure Python: no AWS, no HTTP. The service (services/two_factor.py) reads and writes the items;
everything it decides is decided here, so it is tested with a fake clock and no emulator.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

import pyotp

from chalicelib.core.errors import Forbidden, TooManyRequests, Unauthorized
from chalicelib.domain.models import AuthProvider, ClientKind, SecurityPolicy, TwoFactorMethod, User

ISSUER = "Office Chat"
MAX_VALIDITY_DAYS = 90
CHALLENGE_LIFETIME = timedelta(minutes=10)
RESEND_INTERVAL = timedelta(seconds=60)
MAX_WRONG_CODES = 5
EMAIL_CODE_DIGITS = 6
TOTP_DIGITS = 6
TOTP_PERIOD = 30  # seconds: RFC 6238's default, what Google Authenticator uses
TOTP_DRIFT_STEPS = 1  # one step either way
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
_RECOVERY_HALF = 5  # "xxxxx-xxxxx": 10 characters of 31, about 49 bits each

# Clients that 2FA governs; the apps are governed by devices (§3).
CHALLENGED_CLIENTS = (ClientKind.WEB, ClientKind.DESKTOP, ClientKind.MAC)


def is_challenged(policy: SecurityPolicy, user: User, client: ClientKind) -> bool:
    """Password users signing in from a browser or a desktop app, when the domain has 2FA on."""
    return (
        policy.method is not TwoFactorMethod.OFF
        and client in CHALLENGED_CLIENTS
        and user.auth_provider is AuthProvider.PASSWORD
    )


def check_may_administer(policy: SecurityPolicy, client: ClientKind) -> None:
    """The apps skip 2FA, so where 2FA is on their sessions never administer (API.md §2): 403
    `two_factor_required` on every /admin/* route. Web, desktop and mac sessions pass, those
    that began before 2FA was switched on included (they keep working until they end)."""
    if policy.method is not TwoFactorMethod.OFF and client not in CHALLENGED_CLIENTS:
        raise Forbidden(
            "Administration needs a sign-in with two-factor authentication: use the web, desktop"
            " or Mac app, not the phone app.",
            "two_factor_required",
        )


def method_of(policy: SecurityPolicy, user: User) -> TwoFactorMethod | None:
    """The method a user object shows: the domain's, unless off or the user signs in by SSO."""
    if policy.method is TwoFactorMethod.OFF or user.auth_provider is not AuthProvider.PASSWORD:
        return None
    return policy.method


# --- challenges -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """One pending second step of a sign-in, as stored (only hashes of secrets)."""

    id_hash: str
    domain: str
    user_id: str
    method: TwoFactorMethod
    client: ClientKind
    created_at: datetime
    expires_at: datetime
    wrong_codes: int = 0
    enroll: bool = False
    code_hash: str | None = None  # email: HMAC of the code, keyed by the challenge id
    code_sent_at: datetime | None = None
    pending_secret: bytes | None = None  # totp enrolment: the new secret, encrypted (KMS)

    @property
    def dead(self) -> bool:
        return self.wrong_codes >= MAX_WRONG_CODES


def check_usable(challenge: Challenge | None, now: datetime) -> Challenge:
    """An expired or unknown challenge asks for a new sign-in; a dead one answers 429 to every
    try, the right code included, for the rest of its life."""
    if challenge is None or challenge.expires_at <= now:
        raise Unauthorized("This sign-in step expired; sign in again.", "challenge_expired")
    if challenge.dead:
        raise TooManyRequests(
            "Too many wrong codes; sign in again for a new one.",
            retry_after=max(1, int((challenge.expires_at - now).total_seconds())),
            code="too_many_attempts",
        )
    return challenge


def check_resend_allowed(challenge: Challenge, now: datetime) -> None:
    """One email a minute per challenge, the first one included."""
    if challenge.code_sent_at is None:
        return
    wait = challenge.code_sent_at + RESEND_INTERVAL - now
    if wait > timedelta(0):
        raise TooManyRequests(
            "A code was sent less than a minute ago; wait before asking for another.",
            retry_after=int(wait.total_seconds()) + (1 if wait.microseconds else 0),
            code="rate_limited",
        )


def invalid_code() -> Unauthorized:
    return Unauthorized("The code is wrong, expired or already used.", "invalid_code")


# --- email codes --------------------------------------------------------------------------------


def new_email_code() -> str:
    return f"{secrets.randbelow(10**EMAIL_CODE_DIGITS):0{EMAIL_CODE_DIGITS}d}"


def email_code_hash(challenge_id: str, code: str) -> str:
    """Keyed by the challenge id, which is never stored: a leaked table does not let anyone
    try the million codes offline."""
    return hmac.new(challenge_id.encode(), code.encode(), hashlib.sha256).hexdigest()


def email_code_matches(challenge: Challenge, challenge_id: str, code: str) -> bool:
    if challenge.code_hash is None:
        return False
    return hmac.compare_digest(challenge.code_hash, email_code_hash(challenge_id, code))


# --- TOTP (RFC 6238) --------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommendation


def otpauth_uri(secret: str, email: str) -> str:
    """`otpauth://totp/Office%20Chat:<email>?secret=…&issuer=Office%20Chat` (Key Uri Format)."""
    issuer = quote(ISSUER)
    return f"otpauth://totp/{issuer}:{quote(email, safe='@')}?secret={secret}&issuer={issuer}"


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_PERIOD


def matching_totp_step(secret: str, code: str, at: datetime, after_step: int = -1) -> int | None:
    """The time step whose code this is, within one step of drift either way, and later than
    `after_step` (the last step accepted: a code is good once); None if it matches none."""
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    current = totp_step(at)
    for step in (current, current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS):
        if step > after_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def normalize_code(code: str) -> str:
    """Apps show "123 456"; people paste codes with spaces or dashes."""
    return "".join(code.split()).replace("-", "").lower()


def looks_like_one_time_code(code: str) -> bool:
    return len(code) == TOTP_DIGITS and code.isdigit()


# --- recovery codes ---------------------------------------------------------------------------


def new_recovery_codes() -> list[str]:
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(2 * _RECOVERY_HALF))
        codes.add(f"{chars[:_RECOVERY_HALF]}-{chars[_RECOVERY_HALF:]}")
    return sorted(codes)


def recovery_code_hash(code: str) -> str:
    """SHA-256 is enough for 49 random bits a code (nobody guesses them offline in time that
    matters), and lets the store find a code by its hash in one condition."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


# --- trusted browsers (the validity period) ----------------------------------------------------


@dataclass(frozen=True)
class TrustedBrowser:
    token_hash: str
    issued_at: datetime
    trusted_until: datetime
    epoch: int


def trusted_until(policy: SecurityPolicy, now: datetime) -> datetime | None:
    """None when the domain wants every sign-in challenged (validity 0 days)."""
    return now + timedelta(days=policy.validity_days) if policy.validity_days > 0 else None


def trust_holds(trusted: TrustedBrowser | None, policy: SecurityPolicy, now: datetime) -> bool:
    """A trusted token skips the challenge while its period runs, under the method it was
    issued for; shortening the domain's period shortens it too (0 ends it)."""
    if trusted is None or trusted.epoch != policy.epoch:
        return False
    ends = min(trusted.trusted_until, trusted.issued_at + timedelta(days=policy.validity_days))
    return now < ends
