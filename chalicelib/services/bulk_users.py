"""§4 `POST /admin/users/bulk`: deactivate, activate or delete up to 1 000 users, as a job.

Each user goes through the very same service call as the single-user route, on behalf of the
admin who asked (re-read at every step: an admin demoted meanwhile stops the job). One user's
failure is recorded as that user's outcome (`ok` or an error code) and never stops the others.

Idempotency: the checkpoint is the position in the id list; a step delivered twice finds the job
past it. The single-user actions are themselves idempotent (deactivating a deactivated user is
`ok`), so a step that ran but could not save its checkpoint repeats harmlessly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from chalicelib.core import ids
from chalicelib.core.errors import AppError, InvalidField, NotFound
from chalicelib.domain.models import Principal, Role, UserStatus
from chalicelib.repositories.jobs import Job
from chalicelib.repositories.users import UserRepository
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.user_deletion import UserDeletionService
from chalicelib.services.users import UserService

BULK = "users.bulk"
MAX_USERS = 1000
STEP_USERS = 25


class BulkAction(StrEnum):
    DEACTIVATE = "deactivate"
    ACTIVATE = "activate"
    DELETE = "delete"


class BulkUserService:
    def __init__(
        self, users: UserService, deletion: UserDeletionService, profiles: UserRepository, jobs: JobService
    ) -> None:
        self._users = users
        self._deletion = deletion
        self._profiles = profiles
        self._jobs = jobs
        jobs.register(BULK, self.step)

    def start(self, principal: Principal, action: BulkAction, user_ids: list[str]) -> Job:
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            raise InvalidField("user_ids", "must name at least one user")
        if len(unique) > MAX_USERS:
            raise InvalidField("user_ids", f"must name at most {MAX_USERS} users", "too_many_items")
        payload = {"action": action.value, "user_ids": unique, "actor_id": principal.user.id}
        return self._jobs.start(principal.domain, BULK, len(unique), payload, principal.user.email)

    def step(self, job: Job) -> StepOutcome:
        actor = self._profiles.get(job.domain, str(job.payload["actor_id"]))
        if actor is None or actor.role is not Role.ADMIN or actor.status is not UserStatus.ACTIVE:
            return StepOutcome(
                done=0,
                checkpoint=job.checkpoint,
                finished=True,
                failed=True,
                result={"error": "the admin who started the job is no longer an active admin"},
            )
        principal = Principal(domain=job.domain, user=actor, session=None)
        user_ids: list[str] = job.payload["user_ids"]
        start = int(job.checkpoint or 0)
        batch = user_ids[start : start + STEP_USERS]
        outcomes: dict[str, Any] = dict(job.result.get("outcomes", {}))
        deletion_jobs: dict[str, Any] = dict(job.result.get("deletion_jobs", {}))
        for user_id in batch:
            outcomes[user_id], deletion_job = self._apply(
                principal, BulkAction(job.payload["action"]), user_id
            )
            if deletion_job:
                deletion_jobs[user_id] = deletion_job
        end = start + len(batch)
        result: dict[str, Any] = {"outcomes": outcomes}
        if deletion_jobs:
            result["deletion_jobs"] = deletion_jobs
        return StepOutcome(done=len(batch), checkpoint=str(end), finished=end >= len(user_ids), result=result)

    def _apply(self, principal: Principal, action: BulkAction, user_id: str) -> tuple[str, str | None]:
        try:
            if not ids.is_id(user_id):
                raise NotFound("no such user", "user_not_found")
            if action is BulkAction.DEACTIVATE:
                self._users.deactivate(principal, user_id)
            elif action is BulkAction.ACTIVATE:
                self._users.activate(principal, user_id)
            else:
                return "ok", self._deletion.request(principal, user_id).id
        except NotFound:
            return "not_found", None
        except AppError as error:
            return error.code, None
        return "ok", None
