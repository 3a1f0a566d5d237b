"""The job framework: start a job, read it, and run it step by step from the jobs queue.

A runner is a `Step`: given the job, it does a bounded slice of the work starting at
`job.checkpoint` and says how far it got. After each step the job is saved under the condition
that it is still at the checkpoint the step started from, then the next step is enqueued: a long
job never runs past Lambda's 15 minutes, and a step delivered twice changes nothing the second
time (its writes are idempotent, and only one of the two deliveries moves the checkpoint on).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from chalicelib.core import ids, metrics
from chalicelib.core.clock import Clock
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import NotFound
from chalicelib.core.log import get_logger
from chalicelib.domain.models import Principal
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ConditionFailed
from chalicelib.repositories.jobs import Job, JobQueue, JobRepository

log = get_logger(__name__)


class JobStatus(StrEnum):
    """The statuses a job goes through (the `status` filter of `GET /admin/jobs`)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class StepOutcome:
    done: int  # items handled in this step
    checkpoint: str  # where the next step starts
    finished: bool
    failed: bool = False
    result: dict[str, Any] = field(default_factory=dict)  # merged into the job's result


Step = Callable[[Job], StepOutcome]
Task = Callable[[dict[str, Any]], None]


class JobService:
    def __init__(self, jobs: JobRepository, queue: JobQueue, clock: Clock) -> None:
        self._jobs = jobs
        self._queue = queue
        self._clock = clock
        self._steps: dict[str, Step] = {}
        self._tasks: dict[str, Task] = {}

    def register(self, kind: str, step: Step) -> None:
        self._steps[kind] = step

    def register_task(self, kind: str, task: Task) -> None:
        """A kind of job message that runs without a job record (nobody follows it: the relay
        of a message to Slack); the task is idempotent by itself."""
        self._tasks[kind] = task

    def kinds(self) -> list[str]:
        return [*self._steps, *self._tasks]

    def start(
        self,
        domain: str,
        kind: str,
        total: int,
        payload: dict[str, Any],
        actor: str,
        run_inline: bool = False,
        job_id: str | None = None,
    ) -> Job:
        """Creates the job (with the id given, when its owner recorded it first); runs it to the
        end now when asked (small work), else enqueues it."""
        job = self.new_job(domain, kind, total, payload, actor, job_id)
        self._jobs.create(job)
        if not run_inline:
            self._enqueue(job)
            return job
        while not job.finished:
            moved = self._step(job)
            if moved is None:  # someone else moved it on: read where it is
                return self._jobs.get(domain, job.id) or job
            job = moved
        return job

    def new_job(
        self,
        domain: str,
        kind: str,
        total: int,
        payload: dict[str, Any],
        actor: str,
        job_id: str | None = None,
    ) -> Job:
        """A queued job, not yet saved: `create_op` saves it in its owner's transaction, and
        `enqueue` sets it going once that transaction committed."""
        now = self._clock.now()
        return Job(
            id=job_id or ids.new_id(),
            domain=domain,
            kind=kind,
            status="queued",
            done=0,
            total=total,
            payload=payload,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )

    def create_op(self, job: Job) -> dict[str, Any]:
        return self._jobs.create_op(job)

    def enqueue(self, job: Job) -> None:
        self._enqueue(job)

    def get_platform(self, job_id: str) -> Job:
        """One of the operator's jobs (a domain's deletion), which no domain owns."""
        job = self._jobs.get(keys.PLATFORM_SCOPE, job_id) if ids.is_id(job_id) else None
        if job is None:
            raise NotFound("There is no such platform job.", "job_not_found")
        return job

    def get(self, principal: Principal, job_id: str) -> Job:
        job = self._jobs.get(principal.domain, job_id) if ids.is_id(job_id) else None
        if job is None:
            raise NotFound("There is no such job in this domain.", "job_not_found")
        return job

    def list_jobs(
        self, principal: Principal, status: JobStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        """The domain's jobs, newest first; with `status`, those of that status (their own index
        partition: the filter reads only the jobs it answers)."""
        domain = principal.domain
        status_value = status.value if status else None
        scope = cursor_scope("admin_jobs", domain, status=status_value)
        if status_value is None:
            start = decode_cursor(cursor, "gsi2pk", keys.domain_jobs_gsi2pk(domain), scope=scope)
        else:
            partition = keys.domain_jobs_by_status_gsi3pk(domain, status_value)
            start = decode_cursor(cursor, "gsi3pk", partition, scope=scope)
        jobs, last = self._jobs.page(domain, status_value, limit, start)
        return jobs, encode_cursor(last, scope=scope)

    def find(self, domain: str, job_id: str) -> Job | None:
        return self._jobs.get(domain, job_id)

    def handle(self, message: dict[str, Any]) -> None:
        """One delivery of a job message: runs the step it names, if the job is still there
        (or the task of its kind)."""
        task = self._tasks.get(str(message.get("kind")))
        if task is not None:
            task(message)
            return
        job = self._jobs.get(str(message.get("domain")), str(message.get("job_id")))
        if job is None or job.finished or job.checkpoint != message.get("checkpoint", ""):
            return  # finished, or a duplicate of a step already taken
        moved = self._step(job)
        if moved is not None and not moved.finished:
            self._enqueue(moved)

    def mark_failed(self, message: dict[str, Any], reason: str) -> None:
        job = self._jobs.get(str(message.get("domain")), str(message.get("job_id")))
        if job is None or job.finished:
            return
        failed = replace(
            job, status="failed", result={**job.result, "error": reason}, updated_at=self._clock.now()
        )
        with contextlib.suppress(ConditionFailed):
            self._jobs.save_step(failed, started_from=job.checkpoint)
        log.error("job failed for good", extra={"fields": {"job_id": job.id, "kind": job.kind}})
        metrics.count("JobFailures", job_kind=job.kind, domain=job.domain)

    def _step(self, job: Job) -> Job | None:
        step = self._steps[job.kind]
        outcome = step(job)
        status = "failed" if outcome.failed else "succeeded" if outcome.finished else "running"
        done = job.done + outcome.done
        moved = replace(
            job,
            status=status,
            done=done,
            total=max(job.total, done),  # an estimated total never reads as less than the work done
            checkpoint=outcome.checkpoint,
            result={**job.result, **outcome.result},
            updated_at=self._clock.now(),
        )
        try:
            self._jobs.save_step(moved, started_from=job.checkpoint)
        except ConditionFailed:
            log.info("job step already taken by another delivery", extra={"fields": {"job_id": job.id}})
            return None
        return moved

    def _enqueue(self, job: Job) -> None:
        self._queue.send(
            {"kind": job.kind, "domain": job.domain, "job_id": job.id, "checkpoint": job.checkpoint}
        )
