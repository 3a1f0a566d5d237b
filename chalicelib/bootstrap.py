"""The composition root: builds repositories and services once per container, each on first use.

Routes and event handlers call `services()`; tests call `reset_services()` after pointing the
settings at a fresh emulator, or build a Services of their own with other parts.

Cold start (issue 18): nothing here is built, and no service module is imported, until a request
or an event reads its service. `services().auth` imports and builds the auth service and what it
needs (one Table, one clock, the repositories it reads), and nothing else; a second service built
on the same Services shares those parts. The imports are inside the builders on purpose: this is
the one module where a function-level import is the point (a module-level one would put every
service on the path of every cold request). The types are imported under TYPE_CHECKING only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from chalicelib.core.config import get_settings

if TYPE_CHECKING:
    from chalicelib.core.clock import Clock
    from chalicelib.integrations.mailchimp import MailchimpClient
    from chalicelib.integrations.slack import SlackClient
    from chalicelib.notifications.email import EmailSender
    from chalicelib.repositories.audit import AuditRepository
    from chalicelib.repositories.devices import DeviceRepository
    from chalicelib.repositories.domains import DomainRepository
    from chalicelib.repositories.dynamo import Table
    from chalicelib.repositories.files import FileRepository, ObjectStore
    from chalicelib.repositories.groups import GroupRepository
    from chalicelib.repositories.imports import ImportFiles, ImportRepository
    from chalicelib.repositories.integrations import IntegrationRepository
    from chalicelib.repositories.invites import InviteRepository
    from chalicelib.repositories.jobs import JobQueue
    from chalicelib.repositories.messages import MessageRepository
    from chalicelib.repositories.secrets import SecretBox
    from chalicelib.repositories.sessions import LoginRepository, SessionRepository
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
    from chalicelib.services.imports import ImportOutcome, ImportRun, ImportService
    from chalicelib.services.integrations import IntegrationService, OAuthStates
    from chalicelib.services.invitations import InvitationService
    from chalicelib.services.jobs import JobService
    from chalicelib.services.mailchimp import MailchimpInbound, MailchimpIntegrations
    from chalicelib.services.memberships import DefaultGroupJoiner
    from chalicelib.services.messages import MessageService
    from chalicelib.services.passwords import PasswordHasher
    from chalicelib.services.platform import PlatformService
    from chalicelib.services.reports import ReportService
    from chalicelib.services.slack import SlackInbound, SlackIntegrations, SlackRelay
    from chalicelib.services.two_factor import TwoFactorService
    from chalicelib.services.user_deletion import UserDeletionService
    from chalicelib.services.users import UserService

T = TypeVar("T")

# Held while anything is built: two threads' first reads (`make run` serves requests and deliveries
# concurrently) build a service once, with its parts. Reentrant: a builder reads other services.
_building = threading.RLock()


class _Lazy(Generic[T]):
    """A field of Services built by `build(services)` on first read and kept (as
    functools.cached_property does); unlike cached_property it is a dataclass field, so a
    Services can be made with it given (`Services(clock=...)`, `dataclasses.replace(s, files=...)`).
    Given None, or not given, it is built on first read."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> _Lazy[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object | None, owner: type) -> T | _Lazy[T]:
        if instance is None:
            return self  # the class's attribute: dataclasses reads it as the field's default
        built: dict[str, Any] = instance.__dict__
        if self._name not in built:
            with _building:
                if self._name not in built:
                    built[self._name] = self._build(instance)
        return built[self._name]  # type: ignore[no-any-return]

    def __set__(self, instance: object, value: T | None) -> None:
        if value is not None and value is not self:
            instance.__dict__[self._name] = value


@dataclass(frozen=True, eq=False, repr=False)
class Services:
    """The app's services, each built on first read with the parts it needs; parts (repositories,
    the job framework, the password hasher, ...) are built once per Services and shared.

    The builders first, then the fields that name them (a class body reads top-down)."""

    # -- the parts services share (not fields: a Services made by `replace` builds its own); read
    # by the builders only, so always under `_building` --

    @cached_property
    def _hasher(self) -> PasswordHasher:
        from chalicelib.services.passwords import PasswordHasher

        return PasswordHasher()  # argon2 itself is imported on the first hash

    @cached_property
    def _email(self) -> EmailSender:
        from chalicelib.notifications.email import EmailSender

        return EmailSender()

    @cached_property
    def _secret_box(self) -> SecretBox:
        from chalicelib.repositories.secrets import SecretBox

        return SecretBox()

    @cached_property
    def _object_store(self) -> ObjectStore:
        from chalicelib.repositories.files import ObjectStore

        return ObjectStore()

    @cached_property
    def _index(self) -> UserIndexRepository:
        from chalicelib.repositories.users import UserIndexRepository

        return UserIndexRepository(self.table)

    @cached_property
    def _users(self) -> UserRepository:
        from chalicelib.repositories.users import UserRepository

        return UserRepository(self.table)

    @cached_property
    def _domains(self) -> DomainRepository:
        from chalicelib.repositories.domains import DomainRepository

        return DomainRepository(self.table)

    @cached_property
    def _groups(self) -> GroupRepository:
        from chalicelib.repositories.groups import GroupRepository

        return GroupRepository(self.table)

    @cached_property
    def _audit(self) -> AuditRepository:
        from chalicelib.repositories.audit import AuditRepository

        return AuditRepository(self.table)

    @cached_property
    def _sessions(self) -> SessionRepository:
        from chalicelib.repositories.sessions import SessionRepository

        return SessionRepository(self.table)

    @cached_property
    def _logins(self) -> LoginRepository:
        from chalicelib.repositories.sessions import LoginRepository

        return LoginRepository(self.table)

    @cached_property
    def _invites(self) -> InviteRepository:
        from chalicelib.repositories.invites import InviteRepository

        return InviteRepository(self.table)

    @cached_property
    def _devices(self) -> DeviceRepository:
        from chalicelib.repositories.devices import DeviceRepository

        return DeviceRepository(self.table)

    @cached_property
    def _messages(self) -> MessageRepository:
        from chalicelib.repositories.messages import MessageRepository

        return MessageRepository(self.table)

    @cached_property
    def _files(self) -> FileRepository:
        from chalicelib.repositories.files import FileRepository

        return FileRepository(self.table)

    @cached_property
    def _integrations(self) -> IntegrationRepository:
        from chalicelib.repositories.integrations import IntegrationRepository

        return IntegrationRepository(self.table)

    @cached_property
    def _joiner(self) -> DefaultGroupJoiner:
        from chalicelib.services.memberships import DefaultGroupJoiner

        return DefaultGroupJoiner(self.table, self._groups)

    @cached_property
    def _job_queue(self) -> JobQueue:
        from chalicelib.repositories.jobs import JobQueue

        return JobQueue()

    @cached_property
    def _job_service(self) -> JobService:
        """The job framework without its runners: the services that start jobs use this one;
        `jobs` (what runs a delivered job) also builds every service that registers a kind."""
        from chalicelib.repositories.jobs import JobRepository
        from chalicelib.services.jobs import JobService

        return JobService(JobRepository(self.table), self._job_queue, self.clock)

    @cached_property
    def _import_repository(self) -> ImportRepository:
        from chalicelib.repositories.imports import ImportRepository

        return ImportRepository(self.table)

    @cached_property
    def _import_files(self) -> ImportFiles:
        from chalicelib.repositories.imports import ImportFiles

        return ImportFiles()

    @cached_property
    def _import_invitations(self) -> ImportInvitations:  # registers the `import_invites` job
        from chalicelib.notifications.email import BulkSender
        from chalicelib.services.import_invitations import ImportInvitations

        return ImportInvitations(
            self.table,
            self._import_repository,
            self._users,
            self._invites,
            self._job_service,
            BulkSender(),
            self.clock,
        )

    @cached_property
    def _import_outcome(self) -> ImportOutcome:
        from chalicelib.services.imports import ImportOutcome

        return ImportOutcome(
            self._import_repository,
            self._import_files,
            self._users,
            self._index,
            self._audit,
            self._email,
            self.clock,
        )

    @cached_property
    def _import_run(self) -> ImportRun:  # registers the `import_users` job
        from chalicelib.services.imports import ChunkProcessor, ImportRun

        chunks = ChunkProcessor(
            self.table,
            self._import_repository,
            self._users,
            self._index,
            self._domains,
            self._invites,
            self._sessions,
            self._joiner,
            self._import_invitations,
            self.clock,
        )
        return ImportRun(
            self._import_repository,
            self._import_files,
            self._domains,
            self._joiner,
            chunks,
            self._import_outcome,
            self._job_service,
            self.clock,
        )

    @cached_property
    def _domain_purge(self) -> DomainPurgeService:  # registers the `delete_domain` job
        from chalicelib.services.domain_purge import DomainPurgeService

        return DomainPurgeService(self.table, self._domains, self._job_service, self.clock)

    @cached_property
    def _oauth_states(self) -> OAuthStates:
        from chalicelib.services.integrations import OAuthStates

        return OAuthStates(self._integrations, self.clock)

    @cached_property
    def _slack_relay(self) -> SlackRelay:
        from chalicelib.services.slack import RELAY_JOB, SlackRelay

        relay = SlackRelay(
            self.table,
            self._integrations,
            self._domains,
            self._messages,
            self._job_queue,
            self._secret_box,
            _slack_client,
            self.clock,
        )
        self._job_service.register_task(RELAY_JOB, relay.deliver)
        return relay

    # -- the builders of the fields below --

    def _build_clock(self) -> Clock:
        from chalicelib.core.clock import SystemClock

        return SystemClock()

    def _build_table(self) -> Table:
        from chalicelib.repositories.dynamo import Table

        return Table()

    def _build_platform(self) -> PlatformService:
        from chalicelib.services.platform import PlatformKeySource, PlatformService

        return PlatformService(
            self.table,
            self._domains,
            self._users,
            self._index,
            self._groups,
            self._audit,
            self._hasher,
            self.clock,
            PlatformKeySource().get,
            self._domain_purge,
            self._job_service,
        )

    def _build_auth(self) -> AuthService:
        from chalicelib.services.auth import AuthService

        return AuthService(
            self.table,
            self._logins,
            self._sessions,
            self._users,
            self._devices,
            self._hasher,
            self.two_factor,
            self._email,
            self.clock,
        )

    def _build_audit(self) -> AuditService:
        from chalicelib.services.audit import AuditService

        return AuditService(self._audit)

    def _build_users(self) -> UserService:
        from chalicelib.services.users import UserService

        return UserService(
            self.table,
            self._users,
            self._index,
            self._domains,
            self._invites,
            self._sessions,
            self._audit,
            self._joiner,
            self._email,
            self.clock,
        )

    def _build_invitations(self) -> InvitationService:
        from chalicelib.services.invitations import InvitationService

        return InvitationService(
            self.table,
            self._invites,
            self._users,
            self._index,
            self._domains,
            self._sessions,
            self._audit,
            self._joiner,
            self._hasher,
            self.two_factor,
            self.clock,
        )

    def _build_jobs(self) -> JobService:
        """The job framework with every runner registered: a delivered job (events/jobs.py) may
        be of any kind. Each of these registers its kinds in its constructor."""
        _ = (
            self.default_groups,  # add_members
            self.deletion,  # delete_user
            self.bulk,  # bulk
            self._import_run,  # import_users
            self._import_invitations,  # import_invites
            self._domain_purge,  # delete_domain
            self._slack_relay,  # slack_relay (a task)
        )
        return self._job_service

    def _build_default_groups(self) -> DefaultGroupService:  # registers the `add_members` job
        from chalicelib.repositories.default_groups import DomainGroupRepository
        from chalicelib.services.default_groups import DefaultGroupService

        return DefaultGroupService(
            self.table,
            DomainGroupRepository(self.table),
            self._domains,
            self._audit,
            self._job_service,
            self.clock,
        )

    def _build_groups(self) -> GroupService:
        from chalicelib.services.groups import GroupService

        return GroupService(self.table, self._groups, self._users, self._audit, self.clock)

    def _build_messages(self) -> MessageService:
        from chalicelib.repositories.chats import ChatRepository
        from chalicelib.services.messages import MessageService

        return MessageService(
            self.table,
            self._groups,
            self._users,
            self._messages,
            ChatRepository(self.table),
            self._files,
            self.files,
            self._integrations,
            self._slack_relay.after_post,
            self.clock,
        )

    def _build_files(self) -> FileService:
        from chalicelib.services.files import FileService

        return FileService(self._files, self._object_store, self._groups, self.clock)

    def _build_deletion(self) -> UserDeletionService:  # registers the `delete_user` job
        from chalicelib.services.user_deletion import UserDeletionService

        return UserDeletionService(
            self.table,
            self.users,
            self._users,
            self._index,
            self._domains,
            self._invites,
            self._sessions,
            self._logins,
            self._audit,
            self._job_service,
            self.clock,
        )

    def _build_bulk(self) -> BulkUserService:  # registers the `bulk` job
        from chalicelib.services.bulk_users import BulkUserService

        return BulkUserService(self.users, self.deletion, self._users, self._job_service)

    def _build_devices(self) -> DeviceService:
        from chalicelib.services.devices import DeviceService

        return DeviceService(
            self.table, self._devices, self._sessions, self._users, self._index, self._audit, self.clock
        )

    def _build_two_factor(self) -> TwoFactorService:
        from chalicelib.repositories.two_factor import TwoFactorRepository
        from chalicelib.services.two_factor import TwoFactorService

        return TwoFactorService(
            self.table,
            TwoFactorRepository(self.table),
            self._users,
            self._index,
            self._domains,
            self._sessions,
            self._logins,
            self._audit,
            self._secret_box,
            self._email,
            self.clock,
        )

    def _build_imports(self) -> ImportService:
        from chalicelib.services.imports import ImportService

        return ImportService(
            self.table,
            self._import_repository,
            self._import_files,
            self._domains,
            self._job_service,
            self._import_invitations,
            self._import_outcome,
            self.clock,
        )

    def _build_reports(self) -> ReportService:
        from chalicelib.repositories.reports import ReportRepository
        from chalicelib.services.reports import ReportService

        return ReportService(
            self.table, ReportRepository(self.table), self._object_store, self._email, self.clock
        )

    def _build_integrations(self) -> IntegrationService:
        from chalicelib.services.integrations import IntegrationService

        return IntegrationService(
            self.table, self._integrations, self._domains, self.groups, self._audit, self.clock
        )

    def _build_slack(self) -> SlackIntegrations:
        from chalicelib.services.slack import SlackApp, SlackIntegrations

        return SlackIntegrations(
            self.table,
            self._integrations,
            self.integrations,
            self._oauth_states,
            self._secret_box,
            _slack_client,
            SlackApp.from_settings,
            self.clock,
        )

    def _build_slack_inbound(self) -> SlackInbound:
        from chalicelib.services.slack import SlackApp, SlackInbound

        return SlackInbound(
            self.table, self._integrations, self._domains, self._messages, SlackApp.from_settings, self.clock
        )

    def _build_mailchimp(self) -> MailchimpIntegrations:
        from chalicelib.services.mailchimp import MailchimpApp, MailchimpIntegrations

        return MailchimpIntegrations(
            self.table,
            self._integrations,
            self.integrations,
            self._oauth_states,
            self._secret_box,
            _mailchimp_client,
            MailchimpApp.from_settings,
            self.clock,
        )

    def _build_mailchimp_inbound(self) -> MailchimpInbound:
        from chalicelib.services.mailchimp import MailchimpInbound

        return MailchimpInbound(self.table, self._integrations, self._domains, self._messages, self.clock)

    # -- the fields: what the app reads; tests may give any of them (`replace`, `build_services`) --

    clock: _Lazy[Clock] = _Lazy(_build_clock)
    table: _Lazy[Table] = _Lazy(_build_table)
    platform: _Lazy[PlatformService] = _Lazy(_build_platform)
    auth: _Lazy[AuthService] = _Lazy(_build_auth)
    audit: _Lazy[AuditService] = _Lazy(_build_audit)
    users: _Lazy[UserService] = _Lazy(_build_users)
    invitations: _Lazy[InvitationService] = _Lazy(_build_invitations)
    jobs: _Lazy[JobService] = _Lazy(_build_jobs)
    default_groups: _Lazy[DefaultGroupService] = _Lazy(_build_default_groups)
    groups: _Lazy[GroupService] = _Lazy(_build_groups)
    messages: _Lazy[MessageService] = _Lazy(_build_messages)
    files: _Lazy[FileService] = _Lazy(_build_files)
    deletion: _Lazy[UserDeletionService] = _Lazy(_build_deletion)
    bulk: _Lazy[BulkUserService] = _Lazy(_build_bulk)
    devices: _Lazy[DeviceService] = _Lazy(_build_devices)
    two_factor: _Lazy[TwoFactorService] = _Lazy(_build_two_factor)
    imports: _Lazy[ImportService] = _Lazy(_build_imports)
    reports: _Lazy[ReportService] = _Lazy(_build_reports)
    integrations: _Lazy[IntegrationService] = _Lazy(_build_integrations)
    slack: _Lazy[SlackIntegrations] = _Lazy(_build_slack)
    slack_inbound: _Lazy[SlackInbound] = _Lazy(_build_slack_inbound)
    mailchimp: _Lazy[MailchimpIntegrations] = _Lazy(_build_mailchimp)
    mailchimp_inbound: _Lazy[MailchimpInbound] = _Lazy(_build_mailchimp_inbound)


def build_services(clock: Clock | None = None, table: Table | None = None) -> Services:
    """Services on this clock and table (each made on first use when not given); every service
    is built on first read."""
    return Services(clock=clock, table=table)


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
