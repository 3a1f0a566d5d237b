"""The operator's use cases: provision a domain, read one, list them. Guarded by the platform
key."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from chalicelib.core import aws, ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import Conflict, NotFound, Unauthorized
from chalicelib.core.log import get_logger
from chalicelib.domain import rules
from chalicelib.domain.models import (
    AuditEntry,
    Billing,
    Domain,
    DomainStatus,
    Group,
    GroupRole,
    Plan,
    Role,
    User,
    UserStatus,
)
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.jobs import Job
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.domain_purge import DomainPurgeService
from chalicelib.services.jobs import JobService
from chalicelib.services.passwords import PasswordHasher

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = ("ssm:GetParameter",)

log = get_logger(__name__)
PLATFORM_ACTOR = "platform"


class PlatformKeySource:
    """The platform key: OC_PLATFORM_KEY, or an SSM SecureString named by
    OC_PLATFORM_KEY_SSM_PARAM (read once per container)."""

    def __init__(self) -> None:
        self._cached: str | None = None
        self._lock = threading.Lock()

    def get(self) -> str | None:
        settings = get_settings()
        if settings.platform_key:
            return settings.platform_key
        if not settings.platform_key_ssm_param:
            return None
        with self._lock:
            if self._cached is None:
                answer = aws.ssm().get_parameter(Name=settings.platform_key_ssm_param, WithDecryption=True)
                self._cached = answer["Parameter"]["Value"]
            return self._cached


@dataclass(frozen=True)
class AdminSpec:
    email: str
    first_name: str
    last_name: str
    password: str


@dataclass(frozen=True)
class ProvisionRequest:
    domain: str
    plan: Plan
    billing: Billing
    seats: int | None
    hipaa: bool
    admin: AdminSpec


@dataclass(frozen=True)
class TermsChange:
    plan: Plan | None = None
    billing: Billing | None = None
    seats: int | None = None
    hipaa: bool | None = None


@dataclass(frozen=True)
class Provisioned:
    domain: Domain
    admin: User
    groups: list[Group]


class PlatformService:
    def __init__(
        self,
        table: Table,
        domains: DomainRepository,
        users: UserRepository,
        index: UserIndexRepository,
        groups: GroupRepository,
        audit: AuditRepository,
        hasher: PasswordHasher,
        clock: Clock,
        key_source: Callable[[], str | None],
        purge: DomainPurgeService,
        jobs: JobService,
    ) -> None:
        self._table = table
        self._domains = domains
        self._users = users
        self._index = index
        self._groups = groups
        self._audit = audit
        self._hasher = hasher
        self._clock = clock
        self._key_source = key_source
        self._purge = purge
        self._jobs = jobs

    def check_key(self, presented: str | None) -> None:
        expected = self._key_source()
        if expected is None:
            log.error("no platform key is configured: every platform call is refused")
        if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise Unauthorized("The X-Platform-Key header is missing or wrong.", "invalid_platform_key")

    def provision(self, request: ProvisionRequest) -> Provisioned:
        """Domain, its entry in the operator's list, first admin (with the admin's list entries),
        the two pre-shipped default groups with the admin in them, and the audit entry: one
        TransactWriteItems, so a domain exists whole (and listed) or not at all."""
        rules.check_domain_name(request.domain)
        terms = rules.domain_terms(request.plan, request.billing, request.hipaa, request.seats)
        email = rules.normalize_email(request.admin.email, "admin.email")
        rules.check_password(request.admin.password, email, "admin.password")
        now = self._clock.now()
        domain = Domain(
            name=request.domain,
            plan=request.plan,
            billing=request.billing,
            seats_total=terms.seats,
            seats_used=1,
            hipaa=request.hipaa,
            retention_days=terms.retention_days,
            status=DomainStatus.ACTIVE,
            created_at=now,
            services_off=terms.services_off,
        )
        admin = User(
            id=ids.new_id(),
            domain=domain.name,
            email=email,
            first_name=request.admin.first_name,
            last_name=request.admin.last_name,
            role=Role.ADMIN,
            status=UserStatus.ACTIVE,
            created_at=now,
        )
        groups = [
            Group(
                id=ids.new_id(),
                domain=domain.name,
                name=name,
                description="",
                created_by=None,
                is_default=True,
                created_at=now,
            )
            for name in rules.DEFAULT_GROUP_NAMES
        ]
        entry = AuditEntry(
            at=now,
            actor=PLATFORM_ACTOR,
            action="domain.provisioned",
            target=f"domain:{domain.name}",
            details={
                "plan": domain.plan.value,
                "billing": domain.billing.value,
                "seats": domain.seats_total,
                "hipaa": domain.hipaa,
                "admin_email": admin.email,
                "admin_id": admin.id,
            },
        )
        operations = [self._domains.create_op(domain), self._domains.listing_op(domain)]
        operations += self._users.create_ops(admin, self._hasher.hash(request.admin.password))
        operations += self._index.put_ops(admin)
        for group in groups:
            operations += self._groups.create_ops(group, [(admin.id, GroupRole.MEMBER)], now)
        operations.append(self._audit.append_op(domain.name, entry))
        try:
            self._table.transact(operations)
        except ConditionFailed as failure:
            if 0 in failure.failed or not failure.failed:
                raise Conflict(f"The domain {domain.name} already exists.", "domain_exists") from None
            raise Conflict(f"The domain {domain.name} is being created right now.", "domain_exists") from None
        log.info("domain provisioned", extra={"fields": {"domain": domain.name}})
        return Provisioned(domain=domain, admin=admin, groups=groups)

    def get(self, name: str) -> Domain:
        domain = self._domains.get(name) if rules.DOMAIN_NAME.match(name) else None
        if domain is None:
            raise NotFound(f"There is no domain {name}.", "domain_not_found")
        return domain

    def set_status(self, name: str, status: DomainStatus) -> Domain:
        """Suspend (every login and token of the domain answers 403 `domain_suspended`, its
        webhooks 404, its S3 drops are refused; nothing is deleted) or resume. Idempotent: the
        status it already has changes nothing; a change is audited. A domain being deleted can
        be neither (409)."""
        for _ in range(3):
            domain = self.get(name)
            if domain.status is status:
                return domain
            if domain.status is DomainStatus.DELETING:
                raise Conflict(f"The domain {name} is being deleted.", "domain_deleting")
            action = "domain.suspended" if status is DomainStatus.SUSPENDED else "domain.resumed"
            entry = AuditEntry(
                at=self._clock.now(), actor=PLATFORM_ACTOR, action=action, target=f"domain:{name}", details={}
            )
            operations = [
                *self._domains.status_change_ops(domain, status),
                self._audit.append_op(name, entry),
            ]
            try:
                self._table.transact(operations)
            except ConditionFailed:
                continue  # another call changed it between our read and our write: read again
            log.info(action, extra={"fields": {"domain": name}})
            return replace(domain, status=status)
        raise Conflict(f"The domain {name} kept changing; try again.", "concurrent_change")

    def change_terms(self, name: str, change: TermsChange) -> Domain:
        """The operator's change of a domain's plan, billing or seats. HIPAA is decided once, at
        provisioning: a HIPAA domain never leaves it (409 `hipaa_permanent`: its content was
        promised to self-destruct), and a domain is never made HIPAA (409
        `hipaa_requires_new_domain`: the seed's BAA process creates a new domain); the plan of
        a HIPAA domain stays enterprise, annual (400). Seats never drop below those in use (409)."""
        domain = self.get(name)
        if domain.status is DomainStatus.DELETING:
            raise Conflict(f"The domain {name} is being deleted.", "domain_deleting")
        if change.hipaa is not None and change.hipaa != domain.hipaa:
            if domain.hipaa:
                raise Conflict(
                    "A HIPAA domain stays HIPAA: its content is destroyed after 7 days under the BAA.",
                    "hipaa_permanent",
                )
            raise Conflict(
                "HIPAA is chosen when a domain is created: provision a new HIPAA domain and move "
                "its staff there.",
                "hipaa_requires_new_domain",
            )
        plan, billing = change.plan or domain.plan, change.billing or domain.billing
        seats = change.seats or domain.seats_total
        rules.domain_terms(plan, billing, domain.hipaa, seats)
        if seats < domain.seats_used:
            raise Conflict(f"seats: {domain.seats_used} seats are in use.", "seats_in_use")
        changed = replace(domain, plan=plan, billing=billing, seats_total=seats)
        if changed == domain:
            return domain
        entry = AuditEntry(
            at=self._clock.now(),
            actor=PLATFORM_ACTOR,
            action="domain.terms_changed",
            target=f"domain:{name}",
            details={"plan": plan.value, "billing": billing.value, "seats": seats},
        )
        try:
            self._table.transact(
                [self._domains.terms_op(domain, changed), self._audit.append_op(name, entry)]
            )
        except ConditionFailed:
            raise Conflict(
                f"The domain {name} changed at the same moment (seats taken, or deleted); read it again.",
                "concurrent_change",
            ) from None
        return changed

    def delete(self, name: str) -> Job:
        """202: the job that deletes the domain (only a suspended one: 409 `domain_active`)."""
        return self._purge.request(self.get(name), PLATFORM_ACTOR)

    def job(self, job_id: str) -> Job:
        return self._jobs.get_platform(job_id)

    def list_domains(
        self, status: DomainStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Domain], str | None]:
        """Every domain, newest first; with `status`, those of that status (another partition of
        the list's index, so the filter reads only what it answers)."""
        scope = cursor_scope("platform_domains", status=status.value if status else None)
        if status is None:
            start = decode_cursor(cursor, "pk", keys.platform_domains_pk(), scope=scope)
        else:
            partition = keys.platform_domains_by_status_gsi2pk(status.value)
            start = decode_cursor(cursor, "gsi2pk", partition, scope=scope)
        domains, last = self._domains.page(status, limit, start)
        return domains, encode_cursor(last, scope=scope)
