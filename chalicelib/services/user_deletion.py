"""§4 `DELETE /admin/users/{id}`: permanent deletion, as the seed promises it.

"Deleting the user will permanently delete all private chats the user has had with all other
users and all groups that the user has created. Additionally, all chat messages & files posted by
the user in groups which the user is a member of would be permanently deleted."

The request itself (one transaction) hides the user at once: the email stops signing in, the
profile answers 404, the lists forget the user, every token dies; the last active admin and
oneself are refused. A job then erases, phase by phase, reaching every item through an index of
the user's own items (repositories/erasure.py), deleting 25 items a BatchWriteItem and 1 000 S3
objects a DeleteObjects, and checkpointing after each bounded step.

Idempotency: each phase deletes what its index still shows, and a container (chat, group) is
dropped from its index only after everything in it is gone, so a step run twice deletes nothing
twice; the final transaction deletes the profile under `attribute_exists`, so the seat is freed
and the audit entry written once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace

from chalicelib.core.clock import Clock
from chalicelib.core.errors import Conflict
from chalicelib.domain.models import AuditEntry, Principal, Role, User, UserStatus
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ITEM_EXISTS, ConditionFailed, Item, Table
from chalicelib.repositories.erasure import Eraser
from chalicelib.repositories.invites import InviteRepository
from chalicelib.repositories.jobs import Job
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.erasing import (
    Progress,
    all_items,
    delete,
    erase_pages,
    integration_lookups,
    run_step,
)
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.transaction import Transaction
from chalicelib.services.users import UserService, last_admin

DELETE_USER = "user.delete"
PHASES = ("chats", "created_groups", "messages", "files", "memberships", "user_items", "finish")


@dataclass(frozen=True)
class Preview:
    private_chats: int
    groups_created: int
    group_messages: int
    group_files: int
    messages_elsewhere: int
    files_elsewhere: int
    devices: int


class UserDeletionService:
    def __init__(
        self,
        table: Table,
        users: UserService,
        user_items: UserRepository,
        index: UserIndexRepository,
        domains: DomainRepository,
        invites: InviteRepository,
        sessions: SessionRepository,
        logins: LoginRepository,
        audit: AuditRepository,
        jobs: JobService,
        clock: Clock,
        eraser_factory: Callable[[], Eraser] | None = None,
    ) -> None:
        self._table = table
        self._users = users
        self._profiles = user_items
        self._index = index
        self._domains = domains
        self._invites = invites
        self._sessions = sessions
        self._logins = logins
        self._audit = audit
        self._jobs = jobs
        self._clock = clock
        self._new_eraser = eraser_factory or (lambda: Eraser(table))
        jobs.register(DELETE_USER, self.step)

    # --- the request -----------------------------------------------------------------------------

    def request(self, principal: Principal, user_id: str) -> Job:
        user = self._users.get(principal, user_id)
        if user.id == principal.user.id:
            raise Conflict("You cannot delete yourself; ask another admin.", "cannot_delete_self")
        hidden = replace(user, deletion_requested=True)
        tx = Transaction(self._table)
        tx.add(self._profiles.save_op(hidden, user), on_condition_failed=_changed())
        tx.add(self._profiles.delete_email_op(user))
        tx.add(*[self._table.delete_op(pk, sk) for pk, sk in self._index.index_keys(user)])
        tx.add(self._invites.delete_op(user.domain, user.id))
        if user.status is UserStatus.ACTIVE and user.role is Role.ADMIN:
            tx.add(self._domains.counters_op(user.domain, admins=-1), on_condition_failed=last_admin())
        entry = AuditEntry(
            at=self._clock.now(),
            actor=principal.user.email,
            action="user.deletion_requested",
            target=f"user:{user.id}",
            details={"email": user.email, "name": user.name},
        )
        tx.add(self._audit.append_op(user.domain, entry))
        tx.commit()
        self._sessions.delete_all_of_user(user.domain, user.id)
        payload = {
            "user_id": user.id,
            "email": user.email,
            "frees_seat": user.status is not UserStatus.DEACTIVATED,
            "requested_by": principal.user.email,
        }
        return self._jobs.start(user.domain, DELETE_USER, self._estimate(user), payload, principal.user.email)

    def _estimate(self, user: User) -> int:
        """The job's `total`: the user's messages and files (what dominates a deletion), counted
        with two Select=COUNT queries of their indexes, plus the user."""
        eraser = self._new_eraser()
        d, u = user.domain, user.id
        messages = eraser.count(keys.user_messages_gsi1pk(d, u), index="gsi1")
        return messages + eraser.count(keys.user_files_gsi1pk(d, u), index="gsi1") + 1

    # --- the preview -----------------------------------------------------------------------------

    def preview(self, principal: Principal, user_id: str) -> Preview:
        """What a delete would destroy, counted from the same indexes the job uses; content past
        its retention is not counted (it is gone for every reader, whether or not TTL caught up)."""
        user = self._users.get(principal, user_id)
        eraser = self._new_eraser()
        d, u = user.domain, user.id
        now = int(self._clock.now().timestamp())
        created = [g["id"] for g in eraser.created_groups(d, u, limit=10_000)]
        created_pks = {keys.group_messages_pk(d, g) for g in created}
        group_messages = group_files = 0
        for group_id in created:
            for message in all_items(eraser, keys.group_messages_pk(d, group_id)):
                if not _live(message, now):
                    continue
                group_messages += 1
                group_files += len(message.get("file_ids") or [])
        elsewhere = files_elsewhere = 0
        for message in all_items(eraser, keys.user_messages_gsi1pk(d, u), index="gsi1"):
            if message["pk"] not in created_pks and "#G#" in message["pk"] and _live(message, now):
                elsewhere += 1
                files_elsewhere += len(message.get("file_ids") or [])
        return Preview(
            private_chats=eraser.count(keys.user_pk(d, u), sk_prefix=keys.CHAT_PREFIX, live_at=now),
            groups_created=len(created),
            group_messages=group_messages,
            group_files=group_files,
            messages_elsewhere=elsewhere,
            files_elsewhere=files_elsewhere,
            devices=eraser.count(keys.user_pk(d, u), sk_prefix="DEVICE#"),
        )

    # --- the job ---------------------------------------------------------------------------------

    def step(self, job: Job) -> StepOutcome:
        """Runs phases until the step's budget of deleted items is spent, then checkpoints."""
        phases = [getattr(self, f"_{name}") for name in PHASES]
        return run_step(job, phases, self._new_eraser())

    def _chats(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        d, u = job.domain, job.payload["user_id"]
        chats = eraser.chats_of(d, u, limit=1)
        if not chats:
            return True
        other = chats[0]["sk"].removeprefix(keys.CHAT_PREFIX)
        if self._erase_conversation(eraser, progress, keys.chat_messages_pk(d, u, other), d):
            for pk, sk in (
                (keys.user_pk(d, u), keys.chat_of_user_sk(other)),
                (keys.user_pk(d, other), keys.chat_of_user_sk(u)),
            ):
                eraser.delete_key(pk, sk)
            progress.spend(2)
            eraser.flush()  # the next Query of the index must not find this chat again
        return False

    def _created_groups(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        d, u = job.domain, job.payload["user_id"]
        groups = eraser.created_groups(d, u, limit=1)
        if not groups:
            return True
        group_id = groups[0]["id"]
        if self._erase_conversation(eraser, progress, keys.group_messages_pk(d, group_id), d):
            for item in all_items(eraser, keys.group_pk(d, group_id)):  # META, memberships, integrations
                eraser.delete_item(item)
                progress.spend(1)
                for pk, sk in integration_lookups(item):  # their webhook URLs and channels die too
                    eraser.delete_key(pk, sk)
                    progress.spend(1)
            eraser.flush()
        return False

    def _erase_conversation(self, eraser: Eraser, progress: Progress, partition: str, domain: str) -> bool:
        """Deletes a page of a conversation's messages (anyone's), with their files; True once
        the conversation is empty."""
        page = eraser.page(partition, progress.page_size, progress.cursor)
        for message in page.items:
            eraser.delete_item(message)
            progress.spend(1)
            for file_id in message.get("file_ids") or []:
                for item in eraser.file_partition(domain, file_id):  # the file and its attachments
                    eraser.delete_item(item)
                    progress.spend(1)
                    if item["sk"] == keys.META and item.get("s3_key"):
                        eraser.delete_object(item["s3_key"])
        progress.cursor = page.cursor
        return page.cursor is None

    def _messages(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        """The user's messages elsewhere, and the attachments they carried (keys built from the
        message: no read)."""
        d, u = job.domain, job.payload["user_id"]

        def erase(message: Item) -> int:
            eraser.delete_item(message)
            container = message["pk"].removeprefix(f"D#{d}#").removesuffix("#MSGS")
            file_ids = message.get("file_ids") or []
            for file_id in file_ids:
                eraser.delete_key(keys.file_pk(d, file_id), keys.attachment_sk(container, message["sk"]))
            return 1 + len(file_ids)

        return erase_pages(eraser, progress, keys.user_messages_gsi1pk(d, u), "gsi1", erase)

    def _files(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        def erase(file: Item) -> int:
            eraser.delete_item(file)
            if file.get("s3_key"):
                eraser.delete_object(file["s3_key"])
            return 1

        partition = keys.user_files_gsi1pk(job.domain, job.payload["user_id"])
        return erase_pages(eraser, progress, partition, "gsi1", erase)

    def _memberships(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        partition = keys.user_memberships_gsi1pk(job.domain, job.payload["user_id"])
        return erase_pages(eraser, progress, partition, "gsi1", lambda item: delete(eraser, item))

    def _user_items(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        """Tokens, invitation, devices, 2FA data...: the user's partition but the profile, and
        but a device whose wipe is pending: it stays listed until its app confirms the wipe (a
        forgotten wipe would leave the network's content readable on the phone)."""

        def erase(item: Item) -> int:
            keep = item["sk"] == keys.PROFILE or _wipe_pending(item)
            return 0 if keep else delete(eraser, item)

        return erase_pages(eraser, progress, keys.user_pk(job.domain, job.payload["user_id"]), None, erase)

    def _finish(self, job: Job, eraser: Eraser, progress: Progress) -> bool:
        """The profile last, with the seat and the audit entry, once."""
        eraser.flush()
        d, u = job.domain, job.payload["user_id"]
        operations = [
            self._table.delete_op(keys.user_pk(d, u), keys.PROFILE, ITEM_EXISTS),
            self._logins.clear_failures_op(d, job.payload["email"]),
        ]
        if job.payload.get("frees_seat"):
            operations.append(self._domains.counters_op(d, seats=-1))
        entry = AuditEntry(
            at=self._clock.now(),
            actor=str(job.payload.get("requested_by", "")),
            action="user.deleted",
            target=f"user:{u}",
            details={"email": job.payload["email"], "job_id": job.id},
        )
        operations.append(self._audit.append_op(d, entry))
        with contextlib.suppress(ConditionFailed):  # a previous delivery of this step finished it
            self._table.transact(operations)
        progress.spend(1)
        return True


def _wipe_pending(item: Item) -> bool:
    return bool(item.get("type") == "device" and item.get("wipe") == "pending")


def _live(item: Item, now: int) -> bool:
    """Not past its TTL (the retention of a HIPAA domain's content)."""
    return item.get("ttl") is None or int(item["ttl"]) > now


def _changed() -> Conflict:
    return Conflict("This user changed at the same moment; read it again and retry.", "concurrent_change")
