from datetime import timedelta

import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.core.errors import BadRequest, InvalidField, TooManyRequests
from chalicelib.domain import rules
from chalicelib.domain.models import Billing, ClientKind, LoginFailures, Plan


@pytest.mark.parametrize("name", ["acme", "a1", "my-company", "0day", "x" * 63])
def test_domain_names_the_contract_allows(name: str) -> None:
    assert rules.check_domain_name(name) == name


@pytest.mark.parametrize("name", ["a", "-acme", "Acme", "ac_me", "ac me", "x" * 64, "acme.com", ""])
def test_domain_names_the_contract_refuses(name: str) -> None:
    with pytest.raises(InvalidField) as caught:
        rules.check_domain_name(name)
    assert caught.value.code == "invalid_domain"
    assert caught.value.field == "domain"


def test_email_is_trimmed_and_lowercased() -> None:
    assert rules.normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"


@pytest.mark.parametrize("value", ["jane", "jane@", "@example.com", "jane@example", "a b@c.de", "a@b@c.de"])
def test_malformed_emails_name_the_field(value: str) -> None:
    with pytest.raises(InvalidField) as caught:
        rules.normalize_email(value, "admin.email")
    assert caught.value.field == "admin.email"


def test_hipaa_needs_enterprise_annual() -> None:
    for plan, billing in [
        (Plan.BUSINESS, Billing.ANNUAL),
        (Plan.ENTERPRISE, Billing.MONTHLY),
        (Plan.BUSINESS, Billing.MONTHLY),
    ]:
        with pytest.raises(BadRequest) as caught:
            rules.domain_terms(plan, billing, hipaa=True, seats=None)
        assert caught.value.code == "baa_requires_enterprise_annual"


def test_hipaa_domain_keeps_content_seven_days_and_starts_with_fifty_seats() -> None:
    terms = rules.domain_terms(Plan.ENTERPRISE, Billing.ANNUAL, hipaa=True, seats=None)
    assert terms == rules.DomainTerms(
        seats=50, retention_days=7, services_off=frozenset({"slack", "mailchimp"})
    )


def test_plain_domain_has_no_retention_and_takes_the_seats_asked() -> None:
    terms = rules.domain_terms(Plan.BUSINESS, Billing.MONTHLY, hipaa=False, seats=12)
    assert terms == rules.DomainTerms(seats=12, retention_days=None)


@pytest.mark.parametrize(
    "password",
    [
        "short",
        "password123",
        "Welcome2026!",
        "qwertyuiop",
        "1234567890",
        "aaaaaaaaaaaa",
        "jane.doe@example.com",
        "jane.doe",
        "!!Summer2024!!",
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidField) as caught:
        rules.check_password(password, "jane.doe@example.com")
    assert caught.value.code == "weak_password"
    assert caught.value.field == "password"


@pytest.mark.parametrize("password", ["correct horse battery staple", "tr0ub4dor&3-xyz", "Ünïcödé pässwörd"])
def test_reasonable_passwords_pass(password: str) -> None:
    assert rules.check_password(password, "jane@example.com") == password


def test_token_lifetimes_depend_on_the_client() -> None:
    now = FixedClock().now()
    assert rules.token_expiry(ClientKind.WEB, now) - now == timedelta(hours=12)
    assert rules.token_expiry(ClientKind.DESKTOP, now) - now == timedelta(days=30)
    assert rules.token_expiry(ClientKind.IOS, now) - now == timedelta(days=90)


def test_a_running_lock_answers_429_until_it_ends() -> None:
    """The counting itself is atomic in DynamoDB (tests/integration/test_two_factor_lockout.py);
    the rule here is what a lock answers."""
    clock = FixedClock()
    locked = LoginFailures(
        count=10, window_start=clock.now(), locked_until=clock.now() + timedelta(minutes=15)
    )
    rules.check_not_locked(LoginFailures(count=9, window_start=clock.now()), clock.now())
    with pytest.raises(TooManyRequests) as caught:
        rules.check_not_locked(locked, clock.now())
    assert caught.value.code == "too_many_attempts"
    assert 899 <= caught.value.retry_after <= 901
    assert caught.value.headers == {"Retry-After": str(caught.value.retry_after)}
    clock.advance(minutes=15)
    rules.check_not_locked(locked, clock.now())
