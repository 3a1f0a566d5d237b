"""Direct writes for states no route can make yet (a member user, a suspended domain...)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.core import ids
from chalicelib.domain.models import DomainStatus, Role, User, UserStatus
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.passwords import PasswordHasher
from tests.conftest import ADMIN_PASSWORD


def add_user(
    domain: str,
    email: str,
    role: Role = Role.MEMBER,
    status: UserStatus = UserStatus.ACTIVE,
    password: str = ADMIN_PASSWORD,
) -> User:
    user = User(
        id=ids.new_id(),
        domain=domain,
        email=email,
        first_name="Mo",
        last_name="Member",
        role=role,
        status=status,
        created_at=datetime.now(UTC),
    )
    table = Table()
    operations = UserRepository(table).create_ops(user, PasswordHasher().hash(password))
    table.transact(operations + UserIndexRepository(table).put_ops(user))
    return user


def set_user_status(user: User, status: UserStatus) -> None:
    Table().put(UserRepository.to_item(replace(user, status=status)))


def set_domain_status(name: str, status: DomainStatus) -> None:
    domains = DomainRepository(Table())
    domain = domains.get(name)
    assert domain is not None
    Table().transact(domains.status_change_ops(domain, status))  # META and the platform's listing


def sent_emails() -> list[dict[str, Any]]:
    """What SES received as plain emails, from moto's backend (the same store moto server's
    data.json shows); templated bulk emails are not among them."""
    from moto.ses.models import Message, ses_backends

    backend = ses_backends["123456789012"]["us-east-1"]
    return [
        {"to": m.destinations["ToAddresses"], "subject": m.subject, "body": m.body}
        for m in backend.sent_messages
        if isinstance(m, Message)
    ]
