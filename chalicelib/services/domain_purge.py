"""§1 `DELETE /platform/domains/{domain}`: the deletion of a whole domain, as a platform job.

The request turns a suspended domain `deleting` (naming the job) in the transaction that saves
the job; nothing of the domain answers from then on (logins and tokens 403, webhooks 404, S3
drops refused). The job then erases, on the paging and checkpoint routine of a user's deletion
(services/erasing.py), phase by phase:

1. `jobs`: the domain's own jobs (GSI2 `D#<d>#JOBS`), first, so that none of them takes another
   step and writes behind the purge;
2. `partitions`: every registered partition (repositories/partitions.py: a registry entry is
   written when a user, group, file, import or report is born), each emptied page by page; an
   integration takes its webhook and Slack channel lookups with it; a "chat of a user" item
   registers its conversation before it goes. Each registry entry is deleted once its
   partitions are empty, and the registry is read again from its start until it is empty;
3. `objects`: every S3 object under the domain's prefixes, 1 000 a list and a DeleteObjects;
4. `fixed`: the partitions every domain has (roster, search, audit...: keys.fixed_partitions);
5. `finish`: the META item and the operator's listing entry, in one transaction conditioned on
   the domain still being deleted by this job. The name is then free to provision again.

No phase scans: every read is a Query of a partition the domain owns, so the purge's cost grows
with the domain's data, not with the table's (bench/purge_bench.py).

Idempotency: each phase deletes what its reads still show, a registry entry goes only after its
partitions are empty, and the job's checkpoint is saved on the condition that it has not moved
(services/jobs.py), so a step delivered twice deletes nothing twice and ends the same way."""

from __future__ import annotations

import contextlib
from typing import Any

from chalicelib.core.clock import Clock, iso_ms
from chalicelib.core.errors import Conflict
from chalicelib.core.log import get_logger
from chalicelib.domain.models import Domain, DomainStatus
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Item, Table
from chalicelib.repositories.erasure import Eraser
from chalicelib.repositories.jobs import Job
from chalicelib.services.erasing import Progress, delete, erase_pages, integration_lookups, run_step
from chalicelib.services.jobs import JobService, StepOutcome

log = get_logger(__name__)

DELETE_DOMAIN = "domain.delete"
PHASES = ("stop_jobs", "partitions", "objects", "fixed", "finish")
REGISTRY_PAGE = 100  # registry entries read a Query (each names up to three partitions)


def object_prefixes(domain: str) -> list[str]:
    """Every S3 prefix a domain's objects live under: uploads (repositories/files.object_key),
    CSV imports (ImportFiles.upload_key, and S3 drops), import reports
    (ImportFiles.report_prefix), problem reports' logs (domain/reports.logs_key)."""
    return [f"{area}/{domain}/" for area in ("files", "imports", "import-reports", "reports")]


class DomainPurgeService:
    def __init__(
        self,
        table: Table,
        domains: DomainRepository,
        jobs: JobService,
        clock: Clock,
        eraser_factory: Any = None,
    ) -> None:
        self._table = table
        self._domains = domains
        self._jobs = jobs
        self._clock = clock
        self._new_eraser = eraser_factory or (lambda: Eraser(table))
        jobs.register(DELETE_DOMAIN, self.step)

    # --- the request -----------------------------------------------------------------------------

    def request(self, domain: Domain, actor: str) -> Job:
        """Starts the deletion of a suspended domain (409 `domain_active` otherwise); asked again
        while it runs, answers the same job (and sets it going again if it never started)."""
        if domain.status is DomainStatus.ACTIVE:
            raise Conflict(
                f"The domain {domain.name} is active: suspend it before deleting it.", "domain_active"
            )
        if domain.status is DomainStatus.DELETING:
            return self._running(domain)
        total = self._estimate(domain.name)
        payload = {
            "domain": domain.name,
            "listing_sk": keys.platform_domain_sk(iso_ms(domain.created_at), domain.name),
        }
        job = self._jobs.new_job(keys.PLATFORM_SCOPE, DELETE_DOMAIN, total, payload, actor)
        try:
            self._table.transact([*self._domains.deletion_ops(domain, job.id), self._jobs.create_op(job)])
        except ConditionFailed:
            raise Conflict(
                f"The domain {domain.name} changed at the same moment; read it again.", "concurrent_change"
            ) from None
        self._jobs.enqueue(job)
        log.info("domain deletion started", extra={"fields": {"domain": domain.name, "job_id": job.id}})
        return job

    def _running(self, domain: Domain) -> Job:
        job = self._jobs.get_platform(domain.purge_job_id or "")
        if job.status == "queued" and not job.checkpoint:
            self._jobs.enqueue(job)  # its first message may have been lost: a duplicate is harmless
        return job

    def _estimate(self, domain: str) -> int:
        """The job's `total`, in partitions: the registered ones (one Select=COUNT Query) and the
        fixed ones. Conversations found on the way are added as they are met."""
        return self._table.count(keys.partitions_pk(domain)) + len(keys.fixed_partitions(domain))

    # --- the job ---------------------------------------------------------------------------------

    def step(self, job: Job) -> StepOutcome:
        domain = self._domains.get(job.payload["domain"])
        if domain is not None and (
            domain.status is not DomainStatus.DELETING or domain.purge_job_id != job.id
        ):
            log.error("domain deletion refused: the domain is not being deleted by this job")
            refused = {"error": "The domain is not being deleted by this job."}
            return StepOutcome(done=0, checkpoint=job.checkpoint, finished=True, failed=True, result=refused)
        phases = [getattr(self, f"_{name}") for name in PHASES]
        return run_step(job, phases, self._new_eraser(), count_units=True)

    def _stop_jobs(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        partition = keys.domain_jobs_gsi2pk(job.payload["domain"])
        return erase_pages(eraser, progress, partition, "gsi2", lambda item: delete(eraser, item))

    def _partitions(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        """The registry, a page of entries at a time, each entry's partitions emptied in turn.
        `state`: the page being worked (`entries`: [root, parts]), the entry and partition
        within it (`entry`, `part`); `cursor` is the position within the partition."""
        domain = job.payload["domain"]
        state = progress.state
        if not state.get("entries"):
            eraser.flush()  # the entries done must be gone before the registry is read again
            page = eraser.page(keys.partitions_pk(domain), REGISTRY_PAGE, None)
            if not page.items:
                return True
            state.update(
                entries=[[e["sk"], list(e.get("parts") or [e["sk"]])] for e in page.items], entry=0, part=0
            )
        root, parts = state["entries"][state["entry"]]
        if erase_pages(
            eraser, progress, parts[state["part"]], None, lambda item: self._erase(domain, eraser, item)
        ):
            state["part"] += 1
            progress.units += 1
            if state["part"] == len(parts):
                eraser.delete_key(keys.partitions_pk(domain), root)
                progress.spend(1)
                state["entry"], state["part"] = state["entry"] + 1, 0
                if state["entry"] == len(state["entries"]):
                    state["entries"] = []
        return False

    @staticmethod
    def _erase(domain: str, eraser: Eraser, item: Item) -> int:
        """One item of a registered partition, with what it leads to: an integration's lookups
        (above the tenants), a conversation to register."""
        conversation = partitions.chat_partition(item)
        if conversation is not None:
            eraser.put_item(partitions.entry(domain, conversation))
        eraser.delete_item(item)
        lookups = integration_lookups(item)
        for pk, sk in lookups:
            eraser.delete_key(pk, sk)
        return 1 + len(lookups)

    def _objects(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        """A list of up to 1 000 keys under the current prefix, deleted; the list is read from
        the prefix's start each time (what was deleted is no longer listed)."""
        prefixes = object_prefixes(job.payload["domain"])
        at = int(progress.state.get("prefix", 0))
        if at == len(prefixes):
            return True
        found, more = eraser.object_keys(prefixes[at])
        for key in found:
            eraser.delete_object(key)
        eraser.flush()
        progress.spend_objects(len(found))
        if not more:
            progress.state["prefix"] = at + 1
        return False

    def _fixed(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        fixed = keys.fixed_partitions(job.payload["domain"])
        at = int(progress.state.get("part", 0))
        if at == len(fixed):
            return True
        if erase_pages(eraser, progress, fixed[at], None, lambda item: delete(eraser, item)):
            progress.state["part"] = at + 1
            progress.units += 1
        return False

    def _finish(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        """The META item and the listing entry, once (a second delivery finds them gone)."""
        eraser.flush()
        domain = job.payload["domain"]
        with contextlib.suppress(ConditionFailed):
            self._table.transact(self._domains.purged_ops(domain, job.id, job.payload["listing_sk"]))
            log.info("domain deleted", extra={"fields": {"domain": domain, "job_id": job.id}})
        progress.spend(2)
        progress.units += 1
        return True
