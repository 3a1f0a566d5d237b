"""The composition root: builds repositories and services once per container, lazily.

Routes and event handlers call `services()`; tests call `reset_services()` after pointing the
settings at a fresh emulator, or build a Services of their own with other parts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.clock import Clock, SystemClock
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.users import UserRepository
from chalicelib.services.audit import AuditService
from chalicelib.services.auth import AuthService
from chalicelib.services.passwords import PasswordHasher
from chalicelib.services.platform import PlatformKeySource, PlatformService


@dataclass(frozen=True)
class Services:
    platform: PlatformService
    auth: AuthService
    audit: AuditService


def build_services(clock: Clock | None = None, table: Table | None = None) -> Services:
    clock = clock or SystemClock()
    table = table or Table()
    hasher = PasswordHasher()
    domains = DomainRepository(table)
    users = UserRepository(table)
    groups = GroupRepository(table)
    audit = AuditRepository(table)
    sessions = SessionRepository(table)
    logins = LoginRepository(table)
    return Services(
        platform=PlatformService(
            table, domains, users, groups, audit, hasher, clock, PlatformKeySource().get
        ),
        auth=AuthService(table, logins, sessions, users, hasher, clock),
        audit=AuditService(audit),
    )


_override: Services | None = None


def services() -> Services:
    return _override or _default_services()


@lru_cache(maxsize=1)
def _default_services() -> Services:
    return build_services()


def use_services(replacement: Services | None) -> None:
    """Serve requests with these services (tests: a moved clock, a failing part); None undoes it."""
    global _override  # noqa: PLW0603 - the one switch of the composition root
    _override = replacement


def reset_services() -> None:
    use_services(None)
    _default_services.cache_clear()
