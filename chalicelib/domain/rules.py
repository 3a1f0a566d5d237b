"""The product's rules as pure functions: each unit-tested without AWS."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.core.errors import BadRequest, InvalidField, TooManyRequests
from chalicelib.domain.models import Billing, ClientKind, LoginFailures, Plan
from chalicelib.domain.passwords_common import is_common

DOMAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# The one email syntax of the product (the API, the platform's first admin, the CSV import), as
# real admins type addresses: a local part of ASCII letters, digits and `. _ % + - '`, starting
# with a letter, digit or `_` (never `=`, `+`, `-`, `@`, which a spreadsheet runs as a formula),
# no `..` and no trailing `.`; exactly one `@`; a dotted domain of LDH labels and a TLD of
# letters (or an IDN's `xn--` form). Nothing else: no quotes, spaces, control characters,
# parentheses, angle brackets, commas, semicolons or backslashes. Deliverability is SES's job.
EMAIL_LOCAL = r"[a-z0-9_](?:[a-z0-9_%+'-]|\.(?!\.))*(?<!\.)"
EMAIL_DOMAIN = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
EMAIL = re.compile(rf"(?P<local>{EMAIL_LOCAL})@{EMAIL_DOMAIN}", re.ASCII)
MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_LENGTH = 64

HIPAA_RETENTION_DAYS = 7
DEFAULT_SEATS = 50
MAX_SEATS = 1_000_000  # room for the million-row import §7 promises, in one domain
DEFAULT_GROUP_NAMES = ("All Of Us", "Admin Announcements")

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256

# A web session is a browser tab; desktop apps and phones keep their sign-in far longer.
TOKEN_LIFETIMES = {
    ClientKind.WEB: timedelta(hours=12),
    ClientKind.DESKTOP: timedelta(days=30),
    ClientKind.MAC: timedelta(days=30),
    ClientKind.IOS: timedelta(days=90),
    ClientKind.ANDROID: timedelta(days=90),
}

LOGIN_MAX_FAILURES = 10
LOGIN_WINDOW = timedelta(minutes=15)


def check_domain_name(name: str) -> str:
    if not DOMAIN_NAME.match(name):
        raise InvalidField(
            "domain",
            "must be 2 to 63 lowercase letters, digits or hyphens, starting with a letter or digit",
            code="invalid_domain",
        )
    return name


def is_email(email: str) -> bool:
    """Whether `email` (already trimmed and lower-cased) has the product's email syntax."""
    if len(email) > MAX_EMAIL_LENGTH:
        return False
    found = EMAIL.fullmatch(email)
    return found is not None and len(found["local"]) <= MAX_EMAIL_LOCAL_LENGTH


def normalize_email(value: str, field: str = "email") -> str:
    """The email as stored and compared (trimmed, lower case), or 400 `invalid_email` naming the
    field. The one rule: the API's user and platform calls and the CSV import all call it."""
    email = value.strip().lower()
    if not is_email(email):
        raise InvalidField(field, "is not an email address", code="invalid_email")
    return email


# The integrations that copy a group's messages to a service outside the BAA: a HIPAA domain
# starts with them off (its admin may turn them on, knowingly: the copies outlive the 7 days).
OUTSIDE_SERVICES = frozenset({"slack", "mailchimp"})


@dataclass(frozen=True)
class DomainTerms:
    seats: int
    retention_days: int | None
    services_off: frozenset[str] = frozenset()


def domain_terms(plan: Plan, billing: Billing, hipaa: bool, seats: int | None) -> DomainTerms:
    """A BAA (and so HIPAA) is offered only on the Enterprise annual plan; HIPAA content
    self-destructs after 7 days; every domain starts with 50 seats unless told otherwise."""
    if hipaa and (plan is not Plan.ENTERPRISE or billing is not Billing.ANNUAL):
        raise BadRequest(
            "hipaa: a HIPAA domain (with a BAA) needs the enterprise plan billed annually",
            code="baa_requires_enterprise_annual",
        )
    if seats is not None and not 1 <= seats <= MAX_SEATS:
        raise BadRequest(f"seats: must be between 1 and {MAX_SEATS}", code="invalid_field")
    return DomainTerms(
        seats=DEFAULT_SEATS if seats is None else seats,
        retention_days=HIPAA_RETENTION_DAYS if hipaa else None,
        services_off=OUTSIDE_SERVICES if hipaa else frozenset(),
    )


def check_password(password: str, email: str, field: str = "password") -> str:
    """NIST SP 800-63B style: a minimum length, no composition rules, and no password that is
    known to be common or that is made of the account's own email."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidField(field, f"must be at least {PASSWORD_MIN_LENGTH} characters", code="weak_password")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidField(field, f"must be at most {PASSWORD_MAX_LENGTH} characters", code="weak_password")
    lowered = password.lower()
    local_part = email.split("@", 1)[0].lower()
    if is_common(password) or lowered in (email.lower(), local_part):
        raise InvalidField(field, "is too common or too easy to guess", code="weak_password")
    if len(set(lowered)) < 4:
        raise InvalidField(field, "repeats too few different characters", code="weak_password")
    return password


def token_expiry(client: ClientKind, now: datetime) -> datetime:
    return now + TOKEN_LIFETIMES[client]


def check_not_locked(failures: LoginFailures | None, now: datetime) -> None:
    """After 10 failed logins within 15 minutes, every login of the account (a right password
    included) answers 429 until 15 minutes after the failure that locked it."""
    if failures is None or failures.locked_until is None or failures.locked_until <= now:
        return
    retry_after = int((failures.locked_until - now).total_seconds()) + 1
    raise TooManyRequests(
        "Too many failed logins for this account; try again later.",
        retry_after=retry_after,
        code="too_many_attempts",
    )
