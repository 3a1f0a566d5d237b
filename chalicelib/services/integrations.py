"""The domain admin's services page (API.md §4 `/admin/integrations`) and what every group
integration shares (§6): who may configure one, the service switch, the webhook URL's secret.

A service is on unless the domain's admin turned it off (new domains: every service on; see
docs/DECISIONS.md). Off, it keeps every group's settings, refuses to configure them (403
`service_disabled`), and its webhooks and deliveries stop; on again, they work as before. The
switch is a string set on the domain's META item, read with every request's token
(Principal.services_off), so checking it costs no call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Forbidden, NotFound
from chalicelib.core.signing import derived_secret
from chalicelib.domain.integrations import Integration, Service
from chalicelib.domain.models import AuditEntry, Principal
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.services.groups import GroupAccess, GroupService
from chalicelib.services.transaction import Transaction

SERVICES = (Service.SLACK, Service.MAILCHIMP)


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

    def audit_op(self, principal: Principal, action: str, target: str, **details: str) -> dict[str, object]:
        entry = AuditEntry(
            at=self._clock.now(), actor=principal.user.email, action=action, target=target, details=details
        )
        return self._audit.append_op(principal.domain, entry)
