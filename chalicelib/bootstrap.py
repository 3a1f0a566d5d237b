"""The composition root: builds repositories and services once per container, lazily.

Routes and event handlers call `services()`; tests call `reset_services()` after pointing the
settings at a fresh emulator, or build a Services of their own with other parts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.core.clock import Clock, SystemClock
from chalicelib.core.config import get_settings
from chalicelib.notifications.email import BulkSender, EmailSender
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.chats import ChatRepository
from chalicelib.repositories.default_groups import DomainGroupRepository
from chalicelib.repositories.devices import DeviceRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.files import FileRepository, ObjectStore
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.imports import ImportFiles, ImportRepository
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.repositories.invites import InviteRepository
from chalicelib.repositories.jobs import JobQueue, JobRepository
from chalicelib.repositories.messages import MessageRepository
from chalicelib.repositories.reports import ReportRepository
from chalicelib.repositories.secrets import SecretBox
from chalicelib.repositories.sessions import LoginRepository, SessionRepository
from chalicelib.repositories.two_factor import TwoFactorRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services.audit import AuditService
from chalicelib.services.auth import AuthService
from chalicelib.services.bulk_users import BulkUserService
from chalicelib.services.default_groups import DefaultGroupService
from chalicelib.services.devices import DeviceService
from chalicelib.services.domain_purge import DomainPurgeService
from chalicelib.services.files import FileService
from chalicelib.services.groups import GroupService
from chalicelib.services.import_invitations import ImportInvitations
from chalicelib.services.imports import ChunkProcessor, ImportOutcome, ImportRun, ImportService
from chalicelib.services.integrations import IntegrationService, OAuthStates
from chalicelib.services.invitations import InvitationService
from chalicelib.services.jobs import JobService
from chalicelib.services.mailchimp import MailchimpApp, MailchimpInbound, MailchimpIntegrations
from chalicelib.services.memberships import DefaultGroupJoiner
from chalicelib.services.messages import MessageService
from chalicelib.services.passwords import PasswordHasher
from chalicelib.services.platform import PlatformKeySource, PlatformService
from chalicelib.services.reports import ReportService
from chalicelib.services.slack import RELAY_JOB, SlackApp, SlackInbound, SlackIntegrations, SlackRelay
from chalicelib.services.two_factor import TwoFactorService
from chalicelib.services.user_deletion import UserDeletionService
from chalicelib.services.users import UserService

if TYPE_CHECKING:
    from chalicelib.integrations.mailchimp import MailchimpClient
    from chalicelib.integrations.slack import SlackClient


@dataclass(frozen=True)
class Services:
    platform: PlatformService
    auth: AuthService
    audit: AuditService
    users: UserService
    invitations: InvitationService
    jobs: JobService
    default_groups: DefaultGroupService
    groups: GroupService
    messages: MessageService
    files: FileService
    deletion: UserDeletionService
    bulk: BulkUserService
    devices: DeviceService
    two_factor: TwoFactorService
    imports: ImportService
    reports: ReportService
    integrations: IntegrationService
    slack: SlackIntegrations
    slack_inbound: SlackInbound
    mailchimp: MailchimpIntegrations
    mailchimp_inbound: MailchimpInbound


def build_services(clock: Clock | None = None, table: Table | None = None) -> Services:
    clock = clock or SystemClock()
    table = table or Table()
    hasher = PasswordHasher()
    index = UserIndexRepository(table)
    domains = DomainRepository(table)
    users = UserRepository(table)
    groups = GroupRepository(table)
    audit = AuditRepository(table)
    sessions = SessionRepository(table)
    logins = LoginRepository(table)
    invites = InviteRepository(table)
    joiner = DefaultGroupJoiner(table, groups)
    job_queue = JobQueue()
    jobs = JobService(JobRepository(table), job_queue, clock)
    two_factor = TwoFactorService(
        table,
        TwoFactorRepository(table),
        users,
        index,
        domains,
        sessions,
        logins,
        audit,
        SecretBox(),
        EmailSender(),
        clock,
    )
    import_repository = ImportRepository(table)
    import_files = ImportFiles()
    import_invitations = ImportInvitations(
        table, import_repository, users, invites, jobs, BulkSender(), clock
    )
    import_outcome = ImportOutcome(import_repository, import_files, users, index, audit, EmailSender(), clock)
    import_chunks = ChunkProcessor(
        table, import_repository, users, index, domains, invites, sessions, joiner, import_invitations, clock
    )
    ImportRun(import_repository, import_files, domains, joiner, import_chunks, import_outcome, jobs, clock)
    imports = ImportService(
        table, import_repository, import_files, domains, jobs, import_invitations, import_outcome, clock
    )
    file_repository = FileRepository(table)
    file_service = FileService(file_repository, ObjectStore(), groups, clock)
    user_service = UserService(
        table, users, index, domains, invites, sessions, audit, joiner, EmailSender(), clock
    )
    message_repository = MessageRepository(table)
    integration_repository = IntegrationRepository(table)
    group_service = GroupService(table, groups, users, audit, clock)
    integration_service = IntegrationService(
        table, integration_repository, domains, group_service, audit, clock
    )
    slack_client = _slack_client
    oauth_states = OAuthStates(integration_repository, clock)
    slack_relay = SlackRelay(
        table,
        integration_repository,
        domains,
        message_repository,
        job_queue,
        SecretBox(),
        slack_client,
        clock,
    )
    jobs.register_task(RELAY_JOB, slack_relay.deliver)
    deletion = UserDeletionService(
        table, user_service, users, index, domains, invites, sessions, logins, audit, jobs, clock
    )
    return Services(
        platform=PlatformService(
            table,
            domains,
            users,
            index,
            groups,
            audit,
            hasher,
            clock,
            PlatformKeySource().get,
            DomainPurgeService(table, domains, jobs, clock),
            jobs,
        ),
        auth=AuthService(
            table, logins, sessions, users, DeviceRepository(table), hasher, two_factor, EmailSender(), clock
        ),
        audit=AuditService(audit),
        users=user_service,
        invitations=InvitationService(
            table, invites, users, index, domains, sessions, audit, joiner, hasher, two_factor, clock
        ),
        jobs=jobs,
        default_groups=DefaultGroupService(table, DomainGroupRepository(table), domains, audit, jobs, clock),
        groups=group_service,
        integrations=integration_service,
        slack=SlackIntegrations(
            table,
            integration_repository,
            integration_service,
            oauth_states,
            SecretBox(),
            slack_client,
            SlackApp.from_settings,
            clock,
        ),
        mailchimp=MailchimpIntegrations(
            table,
            integration_repository,
            integration_service,
            oauth_states,
            SecretBox(),
            _mailchimp_client,
            MailchimpApp.from_settings,
            clock,
        ),
        mailchimp_inbound=MailchimpInbound(table, integration_repository, domains, message_repository, clock),
        slack_inbound=SlackInbound(
            table, integration_repository, domains, message_repository, SlackApp.from_settings, clock
        ),
        messages=MessageService(
            table,
            groups,
            users,
            message_repository,
            ChatRepository(table),
            file_repository,
            file_service,
            integration_repository,
            slack_relay.after_post,
            clock,
        ),
        files=file_service,
        deletion=deletion,
        bulk=BulkUserService(user_service, deletion, users, jobs),
        devices=DeviceService(table, DeviceRepository(table), sessions, users, index, audit, clock),
        two_factor=two_factor,
        imports=imports,
        reports=ReportService(table, ReportRepository(table), ObjectStore(), EmailSender(), clock),
    )


@lru_cache(maxsize=1)
def _slack_client() -> SlackClient:
    """Slack's Web API client, made on first use (slack_sdk is imported then, not at cold start)."""
    from chalicelib.integrations.slack import SlackClient

    return SlackClient(get_settings().slack_api_url)


@lru_cache(maxsize=1)
def _mailchimp_client() -> MailchimpClient:
    from chalicelib.integrations.mailchimp import MailchimpClient

    return MailchimpClient(get_settings().mailchimp_login_url)


_override: Services | None = None


def services() -> Services:
    return _override or _default_services()


@lru_cache(maxsize=1)
def _default_services() -> Services:
    return build_services()


def use_services(replacement: Services | None) -> None:
    """Serve requests with these services (tests: a moved clock, a failing part); None undoes it."""
    global _override  # noqa: PLW0603 - the one switch of the composition root
    _override = replacement


def reset_services() -> None:
    use_services(None)
    _default_services.cache_clear()
    _slack_client.cache_clear()
    _mailchimp_client.cache_clear()
