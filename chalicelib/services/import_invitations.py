"""The invitations of the users an import created (API.md §7), sent with SES
SendBulkTemplatedEmail, 50 destinations a call.

- With `send_invites`, the import invites each chunk's new users as it creates them
  (`prepare`: the INVITE items, written with the users; `send`: the emails, once they landed).
- Later, on `POST /admin/imports/{id}/invite` (once), an `import_invites` job reads the new users
  of the import 500 at a time (file order) and invites those still invited; its checkpoint is
  the last line invited. A step delivered twice (a crash between the send and the checkpoint)
  re-invites those users with new links: the old links die, nobody is left without a working one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.log import get_logger
from chalicelib.domain.import_record import ImportRecord
from chalicelib.domain.models import User, UserStatus
from chalicelib.notifications.email import BULK_LIMIT, INVITATION, INVITER_UNKNOWN, BulkSender
from chalicelib.repositories.dynamo import Item, Table
from chalicelib.repositories.imports import ImportRepository
from chalicelib.repositories.invites import Invite, InviteRepository
from chalicelib.repositories.jobs import Job
from chalicelib.repositories.users import UserRepository
from chalicelib.services import tokens
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.users import INVITE_LIFETIME

log = get_logger(__name__)

INVITE_JOB = "import_invites"
USERS_A_STEP = 10 * BULK_LIMIT  # one Query, 5 BatchGetItem, 10 SES calls and one job message a step


@dataclass
class Invitations:
    items: list[Item] = field(default_factory=list)
    destinations: list[tuple[str, dict[str, str]]] = field(default_factory=list)


class ImportInvitations:
    def __init__(
        self,
        table: Table,
        imports: ImportRepository,
        users: UserRepository,
        invites: InviteRepository,
        jobs: JobService,
        sender: BulkSender,
        clock: Clock,
    ) -> None:
        self._table = table
        self._imports = imports
        self._users = users
        self._invites = invites
        self._jobs = jobs
        self._sender = sender
        self._clock = clock
        jobs.register(INVITE_JOB, self.step)

    def start(self, record: ImportRecord) -> Job:
        return self._jobs.start(
            record.domain,
            INVITE_JOB,
            total=record.counts["created"],
            payload={"import_id": record.id, "requested_by": record.requested_by},
            actor=record.requested_by or "s3-drop",
        )

    def prepare(self, domain: str, users: Iterable[User], requested_by: str | None) -> Invitations:
        """A fresh invitation for each user: the INVITE items (a new one replaces the old: the
        old link dies) and the emails' destinations, each with its own link. The inviter is the
        admin who asked for the import (an S3 drop may name none)."""
        inviter = requested_by or INVITER_UNKNOWN
        now = self._clock.now()
        prepared = Invitations()
        for user in users:
            token = tokens.new_token(domain, user.id)
            invite = Invite(tokens.hash_token(token), now + INVITE_LIFETIME, now)
            prepared.items.append(self._invites.item(domain, user.id, invite))
            link = f"{get_settings().public_url}/accept-invite?token={token}"
            prepared.destinations.append(
                (
                    user.email,
                    {
                        "name": user.first_name or user.email,
                        "inviter": inviter,
                        "domain": domain,
                        "link": link,
                    },
                )
            )
        return prepared

    def send(self, invitations: Invitations) -> None:
        """The emails, once their INVITE items have landed (a link must work when it arrives)."""
        if invitations.destinations:
            self._sender.send(INVITATION, invitations.destinations)

    def step(self, job: Job) -> StepOutcome:
        after_line = int(job.checkpoint or 0)
        import_id = str(job.payload["import_id"])
        page = self._imports.new_users(job.domain, import_id, after_line, USERS_A_STEP)
        if not page:
            return StepOutcome(done=0, checkpoint="done", finished=True)
        users = {u.id: u for u in self._users.get_many(job.domain, [i["user_id"] for i in page])}
        still_invited = [
            user
            for user in (users.get(item["user_id"]) for item in page)
            # not deleted, deactivated or signed in since the import
            if user is not None and user.status is UserStatus.INVITED and not user.deletion_requested
        ]
        requested_by = job.payload.get("requested_by")
        invitations = self.prepare(job.domain, still_invited, str(requested_by) if requested_by else None)
        self._table.batch_write_parallel(invitations.items)
        self.send(invitations)
        last_line = int(str(page[-1]["sk"]).rsplit("#", 1)[-1])
        finished = len(page) < USERS_A_STEP
        invited = int(job.result.get("invited", 0)) + len(invitations.destinations)
        return StepOutcome(
            done=len(page), checkpoint=str(last_line), finished=finished, result={"invited": invited}
        )
