"""Domains (tenants): one META item each, and one listing entry each in the operator's list
(`PLATFORM#DOMAINS` / `<created_at>#<domain>`, with GSI2 keys `PLATFORM#DOMAINS#<status>` / the
same sort key): "every domain, newest first" is one Query of that partition, "the domains of a
status" one Query of GSI2, and neither reads anything else of the table. The entry is written in
the transaction that provisions the domain; a change of status moves it (`status_change_ops`)
in the transaction that changes the META item."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.core.cursors import Key
from chalicelib.domain.models import Billing, Domain, DomainStatus, Plan, SecurityPolicy, TwoFactorMethod
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms

# A string set on the domain's META: the integration services its admin turned off (absent:
# every service on). It rides on the read that authenticates a request (Principal.services_off).
SERVICES_OFF = "services_off"


class DomainRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(domain: str) -> tuple[str, str]:
        return keys.domain_pk(domain), keys.META

    def get(self, domain: str) -> Domain | None:
        item = self._table.get(*self.key(domain))
        return self.from_item(item) if item else None

    def create_op(self, domain: Domain) -> dict[str, Any]:
        """The Put of a new domain; its condition fails if the name is taken."""
        return self._table.put_op(self.to_item(domain), ITEM_IS_NEW)

    # --- the operator's list of domains (issue 14) ------------------------------------------------

    def listing_op(self, domain: Domain) -> dict[str, Any]:
        """The Put of a domain's listing entry, in the transaction that provisions it."""
        return self._table.put_op(self.listing_item(domain), ITEM_IS_NEW)

    def status_change_ops(self, domain: Domain, status: DomainStatus) -> list[dict[str, Any]]:
        """A change of status as one transaction's operations: the META item (if its status is
        still the one read) and the listing entry, moved to the new status's GSI2 partition
        (a Put: an entry missing for any reason is written again whole)."""
        meta = self._table.update_op(
            *self.key(domain.name),
            "SET #status = :to",
            {":to": status.value, ":from": domain.status.value},
            condition="#status = :from",
            names={"#status": "status"},
        )
        moved = replace(domain, status=status)
        return [meta, self._table.put_op(self.listing_item(moved))]

    def deletion_ops(self, domain: Domain, job_id: str) -> list[dict[str, Any]]:
        """A suspended domain becomes `deleting`, naming the job that deletes it: the META item
        (if still suspended) and its listing entry, as one transaction's operations."""
        meta = self._table.update_op(
            *self.key(domain.name),
            "SET #status = :to, purge_job_id = :job",
            {":to": DomainStatus.DELETING.value, ":from": DomainStatus.SUSPENDED.value, ":job": job_id},
            condition="#status = :from",
            names={"#status": "status"},
        )
        moved = replace(domain, status=DomainStatus.DELETING, purge_job_id=job_id)
        return [meta, self._table.put_op(self.listing_item(moved))]

    def terms_op(self, domain: Domain, changed: Domain) -> dict[str, Any]:
        """The operator's change of plan, billing or seats: only while the seats in use fit the
        new total and the domain is not being deleted."""
        return self._table.update_op(
            *self.key(domain.name),
            "SET #plan = :plan, billing = :billing, seats_total = :total",
            {
                ":plan": changed.plan.value,
                ":billing": changed.billing.value,
                ":total": changed.seats_total,
                ":deleting": DomainStatus.DELETING.value,
            },
            condition="seats_used <= :total AND #status <> :deleting",
            names={"#status": "status", "#plan": "plan"},
        )

    def purged_ops(self, domain: str, job_id: str, listing_sk: str) -> list[dict[str, Any]]:
        """The last writes of a domain's deletion: its META item (only while the job named there
        is this one) and its listing entry; afterwards the name is free."""
        mine = Condition(
            "#status = :deleting AND purge_job_id = :job",
            {":deleting": DomainStatus.DELETING.value, ":job": job_id},
            {"#status": "status"},
        )
        return [
            self._table.delete_op(*self.key(domain), mine),
            self._table.delete_op(keys.platform_domains_pk(), listing_sk),
        ]

    def page(
        self, status: DomainStatus | None, limit: int, start_key: Key | None
    ) -> tuple[list[Domain], Key | None]:
        """A page of domains, newest first (of one status, when given): one Query of the
        listing, one BatchGetItem of the page's META items (a domain whose META is gone, being
        purged, is left out)."""
        if status is None:
            page = self._table.query(
                keys.platform_domains_pk(), newest_first=True, limit=limit, start_key=start_key
            )
        else:
            page = self._table.query(
                keys.platform_domains_by_status_gsi2pk(status.value),
                index="gsi2",
                newest_first=True,
                limit=limit,
                start_key=start_key,
            )
        wanted = [self.key(item["domain"]) for item in page.items]
        found = self._table.batch_get(wanted) if wanted else {}
        return [self.from_item(found[k]) for k in wanted if k in found], page.last_key

    @staticmethod
    def listing_item(domain: Domain) -> Item:
        sk = keys.platform_domain_sk(iso_ms(domain.created_at), domain.name)
        return {
            "pk": keys.platform_domains_pk(),
            "sk": sk,
            "type": "domain_listing",
            "domain": domain.name,
            "status": domain.status.value,
            "gsi2pk": keys.platform_domains_by_status_gsi2pk(domain.status.value),
            "gsi2sk": sk,
        }

    @staticmethod
    def to_item(domain: Domain) -> Item:
        pk, sk = DomainRepository.key(domain.name)
        return {
            "pk": pk,
            "sk": sk,
            "type": "domain",
            "domain": domain.name,
            "plan": domain.plan.value,
            "billing": domain.billing.value,
            "seats_total": domain.seats_total,
            "seats_used": domain.seats_used,
            "active_admins": domain.active_admins,
            "hipaa": domain.hipaa,
            "retention_days": domain.retention_days,
            "status": domain.status.value,
            "created_at": iso_ms(domain.created_at),
            SERVICES_OFF: set(domain.services_off) or None,
            "purge_job_id": domain.purge_job_id,
            **_security_attributes(domain.security),
        }

    @staticmethod
    def from_item(item: Item) -> Domain:
        return Domain(
            name=item["domain"],
            plan=Plan(item["plan"]),
            billing=Billing(item["billing"]),
            seats_total=item["seats_total"],
            seats_used=item["seats_used"],
            hipaa=item["hipaa"],
            retention_days=item.get("retention_days"),
            status=DomainStatus(item["status"]),
            created_at=parse_ms(item["created_at"]),
            active_admins=item.get("active_admins", 1),
            security=SecurityPolicy(
                method=TwoFactorMethod(item.get("two_factor", TwoFactorMethod.OFF.value)),
                validity_days=item.get("validity_days", 0),
                epoch=item.get("security_epoch", 0),
            ),
            services_off=frozenset(item.get(SERVICES_OFF) or ()),
            purge_job_id=item.get("purge_job_id"),
        )

    def save_security_op(self, domain: str, policy: SecurityPolicy, read: SecurityPolicy) -> dict[str, Any]:
        """The domain's security settings, if no change of method landed since `read` (its
        epoch): two admins switching methods at once must not both bump the epoch from one read."""
        attributes = _security_attributes(policy)
        unchanged = "security_epoch = :read_epoch"
        if read.epoch == 0:
            unchanged = f"({unchanged} OR attribute_not_exists(security_epoch))"
        return self._table.update_op(
            *self.key(domain),
            "SET " + ", ".join(f"{name} = :{name}" for name in attributes),
            {**{f":{name}": value for name, value in attributes.items()}, ":read_epoch": read.epoch},
            condition=f"attribute_exists(pk) AND {unchanged}",
        )

    # --- integration services (issue 15) ---------------------------------------------------------

    def set_service_op(self, domain: str, service: str, enabled: bool) -> dict[str, Any]:
        """Turns a service on (DELETE from the set) or off (ADD to it): either is idempotent, so
        two admins toggling at once end in the last one's choice."""
        action = "DELETE" if enabled else "ADD"
        return self._table.update_op(
            *self.key(domain),
            f"{action} {SERVICES_OFF} :service",
            {":service": {service}},
            condition="attribute_exists(pk)",
        )

    def service_on_check_op(self, domain: str, service: str) -> dict[str, Any]:
        """A transaction's check that the domain is active (not suspended) and the service on in
        it (its webhooks write a message only then: a change between their read and their write
        is still honoured)."""
        on = Condition(
            f"#status = :active AND (attribute_not_exists({SERVICES_OFF}) "
            f"OR NOT contains({SERVICES_OFF}, :service))",
            {":service": service, ":active": DomainStatus.ACTIVE.value},
            {"#status": "status"},
        )
        return self._table.check_op(*self.key(domain), on)

    # --- counters, as an operation of the transaction that changes a user -------------------------

    def counters_op(self, domain: str, seats: int = 0, admins: int = 0) -> dict[str, Any]:
        """One Update of the seats used and the active admins (a transaction may touch an item
        once). Its condition fails when a seat is taken with none free, or when the last active
        admin would go."""
        updates, conditions = [], []
        values: dict[str, Any] = {}
        if seats:
            updates.append("seats_used = seats_used + :seats")
            values[":seats"] = seats
            if seats > 0:
                conditions.append("seats_used < seats_total")
        if admins:
            updates.append("active_admins = if_not_exists(active_admins, :zero) + :admins")
            values.update({":admins": admins, ":zero": 0})
            if admins < 0:
                conditions.append("active_admins > :one")
                values[":one"] = 1
        return self._table.update_op(
            *self.key(domain), "SET " + ", ".join(updates), values, condition=" AND ".join(conditions) or None
        )

    def seats_op(self, domain: str, seats: int, seats_total: int) -> dict[str, Any]:
        """Takes `seats` seats in a transaction (an import's claims of new users): fails unless
        they are free and the total is still the one the caller counted against."""
        return self._table.update_op(
            *self.key(domain),
            "SET seats_used = seats_used + :seats",
            {":seats": seats, ":most": seats_total - seats, ":total": seats_total},
            condition="seats_used <= :most AND seats_total = :total",
        )


def _security_attributes(policy: SecurityPolicy) -> dict[str, Any]:
    return {
        "two_factor": policy.method.value,
        "validity_days": policy.validity_days,
        "security_epoch": policy.epoch,
    }
