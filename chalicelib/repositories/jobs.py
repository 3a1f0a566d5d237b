"""Background jobs: a META item per job (`D#<d>#JOB#<id>`), and the SQS jobs queue.

Every job carries GSI2 keys (`D#<d>#JOBS` / `<id>`: the domain's jobs, newest first read
backwards, ids sorting by creation time) and GSI3 keys (`D#<d>#JOBS#<status>` / `<id>`: those of
one status). Every write of a job is a Put of the whole item, its keys computed from its status,
so a change of status moves the job between GSI3 partitions in that same write: no filter ever
reads jobs of another status.

A job's progress is saved with a condition on the checkpoint it started from, so that of two
deliveries of the same step only one moves the job on (the other finds the condition false and
stops): that is what makes the runners safe under SQS's at-least-once delivery."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from chalicelib.core import aws
from chalicelib.core.clock import epoch, iso_ms
from chalicelib.core.config import get_settings
from chalicelib.core.cursors import Key
from chalicelib.domain.jobs import Job
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "sqs:SendMessage",
    "sqs:GetQueueUrl",
)

# Job lives in domain/ (the API shows it too); it stays importable from here, where the
# services that run jobs have always found it.
__all__ = ["KEEP_FINISHED_JOBS", "Job", "JobQueue", "JobRepository"]

KEEP_FINISHED_JOBS = timedelta(days=30)


class JobRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, job: Job) -> None:
        self._table.put(self._to_item(job), ITEM_IS_NEW)

    def create_op(self, job: Job) -> dict[str, Any]:
        """The Put of a new job, as an operation of the transaction that decides it."""
        return self._table.put_op(self._to_item(job), ITEM_IS_NEW)

    def get(self, domain: str, job_id: str) -> Job | None:
        item = self._table.get(keys.job_pk(domain, job_id), keys.META)
        return self._from_item(item) if item else None

    def save_step(self, job: Job, started_from: str) -> None:
        """Saves a step's outcome if the job is still at the checkpoint the step started from
        (else ConditionFailed: another delivery already took this step)."""
        condition = Condition(
            "checkpoint = :from AND NOT (#status IN (:ok, :failed))",
            {":from": started_from, ":ok": "succeeded", ":failed": "failed"},
            {"#status": "status"},
        )
        self._table.put(self._to_item(job), condition)

    def page(
        self, domain: str, status: str | None, limit: int, start_key: Key | None
    ) -> tuple[list[Job], Key | None]:
        """A page of the domain's jobs, newest first; with `status`, of that status only."""
        if status is None:
            pk, index = keys.domain_jobs_gsi2pk(domain), "gsi2"
        else:
            pk, index = keys.domain_jobs_by_status_gsi3pk(domain, status), "gsi3"
        page = self._table.query(pk, index=index, newest_first=True, limit=limit, start_key=start_key)
        return [self._from_item(i) for i in page.items], page.last_key

    @staticmethod
    def _to_item(job: Job) -> Item:
        return {
            "pk": keys.job_pk(job.domain, job.id),
            "sk": keys.META,
            "type": "job",
            "id": job.id,
            "domain": job.domain,
            "kind": job.kind,
            "status": job.status,
            "done": job.done,
            "total": job.total,
            "payload": job.payload,
            "result": job.result,
            "checkpoint": job.checkpoint,
            "created_by": job.created_by,
            "created_at": iso_ms(job.created_at),
            "updated_at": iso_ms(job.updated_at),
            "ttl": epoch(job.updated_at + KEEP_FINISHED_JOBS) if job.finished else None,
            "gsi2pk": keys.domain_jobs_gsi2pk(job.domain),
            "gsi2sk": job.id,
            "gsi3pk": keys.domain_jobs_by_status_gsi3pk(job.domain, job.status),
            "gsi3sk": job.id,
        }

    @staticmethod
    def _from_item(item: Item) -> Job:
        return Job(
            id=item["id"],
            domain=item["domain"],
            kind=item["kind"],
            status=item["status"],
            done=item["done"],
            total=item["total"],
            payload=item.get("payload") or {},
            result=item.get("result") or {},
            checkpoint=item.get("checkpoint", ""),
            created_by=item.get("created_by", ""),
            created_at=parse_ms(item["created_at"]),
            updated_at=parse_ms(item["updated_at"]),
        )


class JobQueue:
    """The SQS jobs queue; its URL is looked up once per container."""

    def __init__(self) -> None:
        self._url: str | None = None
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any], delay_seconds: int = 0) -> None:
        """One message; `delay_seconds` (at most SQS's 900) holds it back before any delivery."""
        aws.sqs().send_message(
            QueueUrl=self._queue_url(),
            MessageBody=json.dumps(message),
            DelaySeconds=max(0, min(delay_seconds, 900)),
        )

    def _queue_url(self) -> str:
        with self._lock:
            if self._url is None:
                self._url = aws.sqs().get_queue_url(QueueName=get_settings().jobs_queue)["QueueUrl"]
            return self._url
