"""§4 Default groups: list, mark and unmark. Marking adds every active and invited user of the
domain to the group, through a job (inline when the domain is small, queued beyond that)."""

from __future__ import annotations

import json
from dataclasses import replace

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.domain.models import AuditEntry, Group, Principal
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.default_groups import DomainGroupRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.jobs import Job
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.transaction import Transaction

ADD_MEMBERS = "default_group.add_members"
# Every user joins every default group in the transaction that creates or activates the user
# (at most 100 operations): the cap keeps room for the user's own items.
MAX_DEFAULT_GROUPS = 20
STEP_SIZE = 500  # roster entries a job step reads (a few seconds of work)


class DefaultGroupService:
    def __init__(
        self,
        table: Table,
        groups: DomainGroupRepository,
        domains: DomainRepository,
        audit: AuditRepository,
        jobs: JobService,
        clock: Clock,
    ) -> None:
        self._table = table
        self._groups = groups
        self._domains = domains
        self._audit = audit
        self._jobs = jobs
        self._clock = clock
        jobs.register(ADD_MEMBERS, self.add_members_step)

    def list_groups(
        self, principal: Principal, default_only: bool, limit: int, cursor: str | None
    ) -> tuple[list[Group], str | None]:
        partition = keys.default_groups_gsi3pk if default_only else keys.domain_groups_gsi2pk
        index = "gsi3" if default_only else "gsi2"
        scope = cursor_scope("admin_groups", principal.domain, default=default_only)
        start = decode_cursor(cursor, f"{index}pk", partition(principal.domain), scope=scope)
        groups, last = self._groups.list_groups(principal.domain, default_only, limit, start)
        return groups, encode_cursor(last, scope=scope)

    def get(self, principal: Principal, group_id: str) -> Group:
        group = self._groups.get(principal.domain, group_id) if ids.is_id(group_id) else None
        if group is None:
            raise NotFound("There is no such group in this domain.", "group_not_found")
        return group

    def set_default(self, principal: Principal, group_id: str, default: bool) -> tuple[Group, Job | None]:
        group = self.get(principal, group_id)
        if group.is_default == default:
            return group, None
        if default and len(self._defaults(principal.domain)) >= MAX_DEFAULT_GROUPS:
            raise Conflict(
                f"A domain has at most {MAX_DEFAULT_GROUPS} default groups; unmark one first.",
                "too_many_default_groups",
            )
        changed = replace(group, is_default=default)
        entry = AuditEntry(
            at=self._clock.now(),
            actor=principal.user.email,
            action="group.default_set" if default else "group.default_unset",
            target=f"group:{group.id}",
            details={"name": group.name},
        )
        tx = Transaction(self._table)
        tx.add(self._groups.save_op(changed), self._audit.append_op(principal.domain, entry))
        tx.commit()
        if not default:
            return changed, None
        domain = self._domains.get(principal.domain)
        users = domain.seats_used if domain else 0
        job = self._jobs.start(
            principal.domain,
            ADD_MEMBERS,
            total=users,
            payload={"group_id": group.id},
            actor=principal.user.email,
            run_inline=users <= get_settings().inline_job_users,
        )
        return changed, job

    def _defaults(self, domain: str) -> list[Group]:
        groups, _ = self._groups.list_groups(domain, True, MAX_DEFAULT_GROUPS + 1, None)
        return groups

    def add_members_step(self, job: Job) -> StepOutcome:
        """Adds the next STEP_SIZE roster entries' active and invited users who are not members
        yet. Idempotent: a membership written twice is still one membership."""
        group = self._groups.get(job.domain, str(job.payload.get("group_id")))
        if group is None or not group.is_default:
            return StepOutcome(
                done=0,
                checkpoint=job.checkpoint,
                finished=True,
                failed=True,
                result={"error": "the group was deleted or is no longer default"},
            )
        start = json.loads(job.checkpoint) if job.checkpoint else None
        entries, last = self._groups.roster_page(job.domain, start, STEP_SIZE)
        candidates = [uid for uid, status in entries if status in ("active", "invited")]
        added = 0
        for offset in range(0, len(candidates), 100):
            missing = self._groups.missing_members(group, candidates[offset : offset + 100])
            self._groups.add_members(group, missing, self._clock.now())
            added += len(missing)
        return StepOutcome(
            done=len(candidates),
            checkpoint=json.dumps(last, sort_keys=True) if last else "",
            finished=last is None,
            result={"added": int(job.result.get("added", 0)) + added},
        )
