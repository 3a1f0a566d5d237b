"""The domain admin's services page (API.md §4 `/admin/integrations`) and what every group
integration shares (§6): who may configure one, the service switch, the webhook URL's secret.

A service is on unless the domain's admin turned it off (new domains: every service on; see
docs/DECISIONS.md). Off, it keeps every group's settings, refuses to configure them (403
`service_disabled`), and its webhooks and deliveries stop; on again, they work as before. The
switch is a string set on the domain's META item, read with every request's token
(Principal.services_off), so checking it costs no call.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, Forbidden, NotFound
from chalicelib.core.signing import BadSignedToken, derived_secret, sign, verify
from chalicelib.domain.integrations import Integration, IntegrationStatus, Service
from chalicelib.domain.models import AuditEntry, Principal
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.services.groups import GroupAccess, GroupService
from chalicelib.services.transaction import Transaction

SERVICES = (Service.SLACK, Service.MAILCHIMP)
SERVICE_NAMES = {Service.SLACK: "Slack", Service.MAILCHIMP: "MailChimp"}
STATE_MINUTES = 30


@dataclass(frozen=True)
class OAuthOutcome:
    """What an OAuth callback's page says: `status` 200 when the group is connected."""

    status: int
    title: str
    detail: str


@dataclass(frozen=True)
class AuthorizationStart:
    """A callback's valid state and the integration it names, still waiting for its token."""

    integration: Integration
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class ServiceState:
    service: Service
    enabled: bool
    groups: int  # groups of the domain with an integration of this service


def service_disabled(service: Service) -> Forbidden:
    return Forbidden(
        f"The {service.value} integration is turned off for this domain; a domain admin can turn it "
        "on under Integrations > Services.",
        "service_disabled",
    )


def hook_secret(integration: Integration) -> str:
    """The secret of the integration's webhook URL: derived from the app's key and the
    integration's random salt (128 bits), so it is stored nowhere, only its hash (the lookup
    item's key), and stays the same for the integration's life."""
    return derived_secret(
        "webhook", integration.service.value, integration.domain, integration.id, integration.hook_salt
    )


def hook_url(integration: Integration) -> str:
    return f"{get_settings().public_url}/hooks/{integration.service.value}/{hook_secret(integration)}"


def token_owner(integration: Integration) -> dict[str, str]:
    """The KMS encryption context of an integration's token: it decrypts for its integration only."""
    return {
        "domain": integration.domain,
        "integration": integration.id,
        "purpose": f"{integration.service}-bot-token",
    }


def redirect_uri(service: Service) -> str:
    return f"{get_settings().public_url}/oauth/{service.value}/callback"


def refused(detail: str, title: str = "Not connected") -> OAuthOutcome:
    return OAuthOutcome(400, title, detail)


class OAuthStates:
    """The `state` of an "Authenticate with …" link: signed for its service, naming the domain,
    group, integration and a nonce, good for STATE_MINUTES and once (the transaction that stores
    the token marks its nonce used, so a failed attempt does not spend it)."""

    def __init__(self, integrations: IntegrationRepository, clock: Clock) -> None:
        self._integrations = integrations
        self._clock = clock

    def issue(self, integration: Integration) -> str:
        expires = self._clock.now() + timedelta(minutes=STATE_MINUTES)
        payload = {
            "d": integration.domain,
            "g": integration.group_id,
            "i": integration.id,
            "n": secrets.token_urlsafe(12),
        }
        return sign(_state_purpose(integration.service), payload, expires)

    def open(
        self, service: Service, code: str | None, state: str | None, error: str | None
    ) -> tuple[AuthorizationStart | None, OAuthOutcome | None]:
        """The integration a callback completes, with the code to exchange; or the page that
        says why not (a bad, expired or used state, a denial, no code, no such integration)."""
        name = "Slack" if service is Service.SLACK else "MailChimp"
        try:
            claims = verify(_state_purpose(service), state or "", self._clock.now())
        except BadSignedToken as bad:
            reason = "has expired" if str(bad) == "expired" else "is not one we issued"
            return None, refused(
                f"This authorization link {reason}. Start again from Configure Integrations."
            )
        if error:
            return None, refused(f"{name} authorization was denied, so nothing was connected.")
        if not code:
            return None, refused(f"{name} sent no authorization code.")
        return self._pending(service, name, claims)

    def use_op(self, start: AuthorizationStart) -> dict[str, Any]:
        return self._integrations.use_state_op(start.integration.domain, start.nonce, start.expires_at)

    def _pending(
        self, service: Service, name: str, claims: dict[str, Any]
    ) -> tuple[AuthorizationStart | None, OAuthOutcome | None]:
        domain, group_id, nonce = str(claims.get("d")), str(claims.get("g")), str(claims.get("n"))
        if self._integrations.state_used(domain, nonce):
            return None, refused(
                "This authorization link was already used. Start again from Configure Integrations."
            )
        integration = self._integrations.get(domain, group_id, service) if ids.is_id(group_id) else None
        if integration is None or integration.id != claims.get("i"):
            return None, refused(f"This {name} integration no longer exists.")
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        return AuthorizationStart(integration, nonce, expires), None


_START_AGAIN = "Start again from Configure Integrations."


def _state_purpose(service: Service) -> str:
    return f"{service.value}-oauth-state"


def parse_service(name: str) -> Service:
    try:
        return Service(name)
    except ValueError:
        raise NotFound(
            f"There is no integration service named {name!r}; there are slack and mailchimp.",
            "service_not_found",
        ) from None


class IntegrationService:
    def __init__(
        self,
        table: Table,
        integrations: IntegrationRepository,
        domains: DomainRepository,
        groups: GroupService,
        audit: AuditRepository,
        clock: Clock,
    ) -> None:
        self._table = table
        self._integrations = integrations
        self._domains = domains
        self._groups = groups
        self._audit = audit
        self._clock = clock

    # --- the services page ----------------------------------------------------------------------

    def services_page(self, principal: Principal) -> list[ServiceState]:
        return [
            self._state(principal, service, service.value not in principal.services_off)
            for service in SERVICES
        ]

    def set_enabled(
        self, principal: Principal, service_name: str, read_enabled: Callable[[], bool]
    ) -> ServiceState:
        service = parse_service(service_name)
        enabled = read_enabled()
        tx = Transaction(self._table)
        tx.add(self._domains.set_service_op(principal.domain, service.value, enabled))
        tx.add(
            self.audit_op(
                principal, f"integration.service_{'enabled' if enabled else 'disabled'}", service.value
            )
        )
        tx.commit()
        return self._state(principal, service, enabled)

    def _state(self, principal: Principal, service: Service, enabled: bool) -> ServiceState:
        return ServiceState(service, enabled, self._integrations.count_of_domain(principal.domain, service))

    # --- a group's integrations -------------------------------------------------------------------

    def configurable_group(self, principal: Principal, group_id: str, service: Service) -> GroupAccess:
        """The group, if the caller may configure its integrations: 404 unless a member or a
        domain admin, 403 unless a group admin or a domain admin, 403 while the service is off."""
        access = self._groups.access(principal, group_id)
        if not access.can_manage:
            raise Forbidden("Only a group admin can configure the group's integrations.", "not_group_admin")
        if service.value in principal.services_off:
            raise service_disabled(service)
        return access

    def create(
        self,
        principal: Principal,
        group_id: str,
        service: Service,
        read_display_name: Callable[[], str],
        events: tuple[str, ...] = (),
    ) -> Integration:
        """A group's new integration, `pending_auth`, with its webhook lookup (one of a service a
        group: 409 otherwise). The body is read once the caller may configure the group."""
        access = self.configurable_group(principal, group_id, service)
        display_name = read_display_name()
        now = self._clock.now()
        integration = Integration(
            id=ids.new_id(),
            domain=principal.domain,
            group_id=access.group.id,
            service=service,
            status=IntegrationStatus.PENDING_AUTH,
            display_name=display_name,
            hook_salt=secrets.token_urlsafe(16),
            created_by=principal.user.id,
            created_at=now,
            updated_at=now,
            events=events,
            retention_days=principal.retention.days,
        )
        exists = Conflict(
            f"This group already has a {SERVICE_NAMES[service]} integration.", "integration_exists"
        )
        tx = Transaction(self._table)
        tx.add(
            *self._integrations.create_ops(integration, hook_secret(integration)), on_condition_failed=exists
        )
        tx.add(self.integration_audit_op(principal, "created", integration, display_name=display_name))
        tx.commit()
        return integration

    def find(self, principal: Principal, group_id: str, service: Service) -> Integration:
        """The group's integration with the service, to a caller who may configure it (else 403
        or 404, as `configurable_group`); 404 when the group has none."""
        access = self.configurable_group(principal, group_id, service)
        integration = self._integrations.get(principal.domain, access.group.id, service)
        if integration is None:
            raise NotFound(
                f"This group has no {SERVICE_NAMES[service]} integration.", "integration_not_found"
            )
        return integration

    def integration_audit_op(
        self, principal: Principal, change: str, integration: Integration, **details: str
    ) -> dict[str, object]:
        """`integration.<service>.<change>`, on the group, naming the service."""
        service = integration.service.value
        action = f"integration.{service}.{change}"
        return self.audit_op(principal, action, f"group:{integration.group_id}", service=service, **details)

    def audit_op(self, principal: Principal, action: str, target: str, **details: str) -> dict[str, object]:
        entry = AuditEntry(
            at=self._clock.now(), actor=principal.user.email, action=action, target=target, details=details
        )
        return self._audit.append_op(principal.domain, entry)
