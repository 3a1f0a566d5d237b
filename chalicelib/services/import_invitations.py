"""The invitations of the users an import created (API.md §7): with `send_invites` when the
import ends, or later on `POST /admin/imports/{id}/invite` (once). An `import_invites` job reads
the new users of the import 500 at a time (file order), gives each one still invited a fresh
invitation (the INVITE items in BatchWriteItem calls) and sends the emails with SES
SendBulkTemplatedEmail, 50 destinations a call; its checkpoint is the last line invited. A step
delivered twice (a crash between the send and the checkpoint) re-invites those users with new
links: the old links die, nobody is left without a working one."""

from __future__ import annotations

from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.log import get_logger
from chalicelib.domain.models import UserStatus
from chalicelib.notifications.email import BULK_LIMIT, BulkSender, Template
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.imports import ImportRecord, ImportRepository
from chalicelib.repositories.invites import Invite, InviteRepository
from chalicelib.repositories.jobs import Job
from chalicelib.repositories.users import UserRepository
from chalicelib.services import tokens
from chalicelib.services.jobs import JobService, StepOutcome
from chalicelib.services.users import INVITE_LIFETIME

log = get_logger(__name__)

INVITE_JOB = "import_invites"
USERS_A_STEP = 10 * BULK_LIMIT  # one Query, 5 BatchGetItem, 10 SES calls and one job message a step
INVITATION = Template(
    name="office-chat-invitation",
    subject="You are invited to {{domain}} on Office Chat",
    text=(
        "Hello {{name}},\n\n"
        "You are invited to the {{domain}} network on Office Chat.\n\n"
        "Set your password and sign in here:\n{{link}}\n\n"
        "The link works once and expires in 7 days. If you did not expect this, ignore this email.\n"
    ),
)


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
            payload={"import_id": record.id},
            actor=record.requested_by or "s3-drop",
        )

    def step(self, job: Job) -> StepOutcome:
        after_line = int(job.checkpoint or 0)
        import_id = str(job.payload["import_id"])
        page = self._imports.new_users(job.domain, import_id, after_line, USERS_A_STEP)
        if not page:
            return StepOutcome(done=0, checkpoint="done", finished=True)
        users = {u.id: u for u in self._users.get_many(job.domain, [i["user_id"] for i in page])}
        now = self._clock.now()
        destinations, invites = [], []
        for item in page:
            user = users.get(item["user_id"])
            if user is None or user.status is not UserStatus.INVITED or user.deletion_requested:
                continue  # deleted, deactivated or already signed in since the import
            token = tokens.new_token(job.domain, user.id)
            invites.append(
                self._invites.item(
                    job.domain, user.id, Invite(tokens.hash_token(token), now + INVITE_LIFETIME, now)
                )
            )
            link = f"{get_settings().public_url}/accept-invite?token={token}"
            destinations.append(
                (user.email, {"name": user.first_name or user.email, "domain": job.domain, "link": link})
            )
        self._table.batch_write(puts=invites)
        if destinations:
            self._sender.send(INVITATION, destinations)
        last_line = int(str(page[-1]["sk"]).rsplit("#", 1)[-1])
        finished = len(page) < USERS_A_STEP
        invited = int(job.result.get("invited", 0)) + len(destinations)
        return StepOutcome(
            done=len(page), checkpoint=str(last_line), finished=finished, result={"invited": invited}
        )
