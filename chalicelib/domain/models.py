"""The nouns of the product: plain dataclasses and enums, no AWS, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Plan(StrEnum):
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


class Billing(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"


class DomainStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    GUEST = "guest"


class UserStatus(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class AuthProvider(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a provider name, not a secret
    GOOGLE = "google"
    SAML = "saml"


class Enrolment(StrEnum):
    """Whether a user has set up an authenticator app (the `two_factor` filter of user lists)."""

    ENROLLED = "enrolled"
    NOT_ENROLLED = "not_enrolled"


class ClientKind(StrEnum):
    WEB = "web"
    DESKTOP = "desktop"
    MAC = "mac"
    IOS = "ios"
    ANDROID = "android"


class GroupRole(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class TwoFactorMethod(StrEnum):
    OFF = "off"
    EMAIL = "email"
    TOTP = "totp"


@dataclass(frozen=True)
class Retention:
    """How long a domain keeps its content: forever (`days` None), or `days` after it was posted
    (a HIPAA domain: 7). Writes give content its expiry (DynamoDB deletes it by TTL, days late
    at worst); reads never serve what has expired, whether or not TTL has caught up."""

    days: int | None = None

    def expires_at(self, posted_at: datetime) -> datetime | None:
        return None if self.days is None else posted_at + timedelta(days=self.days)

    @property
    def object_tagging(self) -> str | None:
        """The tag every S3 object of such a domain carries from its upload on: the bucket's
        lifecycle rule (infra/template.yaml, hipaa-7-day-retention) destroys tagged objects."""
        return None if self.days is None else f"retention=hipaa-{self.days}d"

    def upload_expires_at(self, uploaded_at: datetime) -> datetime:
        """A file upload not attached to any message yet: kept (and served to its owner) a day at
        most, in every domain; sooner if the domain keeps nothing that long."""
        pending = uploaded_at + UNATTACHED_UPLOAD_LIFETIME
        kept = self.expires_at(uploaded_at)
        return pending if kept is None else min(pending, kept)

    @property
    def upload_tagging(self) -> str:
        """The tags a file upload's object carries until a message carries it: the domain's
        (object_tagging) and the pending tag, which the bucket's lifecycle rule
        (infra/template.yaml, unattached-uploads-1-day) destroys a day on. Attaching the file
        leaves it object_tagging alone."""
        return "&".join(t for t in (self.object_tagging, PENDING_TAGGING) if t)


# A file upload that no message carries: its object's tag, and how long it is kept.
PENDING_TAGGING = "pending=true"
UNATTACHED_UPLOAD_LIFETIME = timedelta(days=1)


def expired(expires_at: datetime | None, now: datetime) -> bool:
    """The one read rule: content at or past its expiry is never served."""
    return expires_at is not None and expires_at <= now


@dataclass(frozen=True)
class SecurityPolicy:
    """A domain's security settings. `epoch` counts the changes of method: a trusted token
    issued under another epoch is dead (domain/two_factor.py), which ends every trusted token
    of the domain at once."""

    method: TwoFactorMethod = TwoFactorMethod.OFF
    validity_days: int = 0
    epoch: int = 0

    def changed_to(self, method: TwoFactorMethod, validity_days: int) -> SecurityPolicy:
        epoch = self.epoch + 1 if method is not self.method else self.epoch
        return replace(self, method=method, validity_days=validity_days, epoch=epoch)


@dataclass(frozen=True)
class Domain:
    name: str
    plan: Plan
    billing: Billing
    seats_total: int
    seats_used: int
    hipaa: bool
    retention_days: int | None
    status: DomainStatus
    created_at: datetime
    active_admins: int = 1
    security: SecurityPolicy = SecurityPolicy()
    services_off: frozenset[str] = frozenset()  # integration services the admin turned off
    purge_job_id: str | None = None  # the platform job deleting it (status `deleting`)


@dataclass(frozen=True)
class User:
    id: str
    domain: str
    email: str
    first_name: str
    last_name: str
    role: Role
    status: UserStatus
    created_at: datetime
    title: str = ""
    phone: str = ""
    department: str = ""
    auth_provider: AuthProvider = AuthProvider.PASSWORD
    two_factor_enrolled: bool = False
    deletion_requested: bool = False  # being erased by a job: gone for every route

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Credentials:
    """What login reads for an email: whose it is and the password hash (None until set)."""

    user_id: str
    password_hash: str | None


@dataclass(frozen=True)
class Group:
    id: str
    domain: str
    name: str
    description: str
    created_by: str | None  # None for the groups the product ships with every domain
    is_default: bool
    created_at: datetime


@dataclass(frozen=True)
class Session:
    """A bearer token as stored: only the SHA-256 of the token itself is kept."""

    token_hash: str
    domain: str
    user_id: str
    client: ClientKind
    created_at: datetime
    expires_at: datetime
    device_id: str | None = None
    device_epoch: int = 0  # the device's epoch when the token was issued


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    domain: str
    user: User
    session: Session | None  # None when a job acts for the admin who started it
    device: Any = None  # the app's Device, for a device-bound token (domain/devices.py)
    security: SecurityPolicy = SecurityPolicy()  # the domain's, as read with the token
    services_off: frozenset[str] = frozenset()  # the domain's, as read with the token
    retention: Retention = Retention()  # the domain's, as read with the token

    @property
    def role(self) -> Role:
        return self.user.role


@dataclass(frozen=True)
class LoginFailures:
    """Failed logins of one email of one domain, within the current lockout window."""

    count: int
    window_start: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    id: str = ""


# --- groups, messages, chats, files (issue 4) ---------------------------------------------


@dataclass(frozen=True)
class Membership:
    """A user's place in a group: `admin` (a group admin) or `member`."""

    group_id: str
    user_id: str
    role: GroupRole
    joined_at: datetime


class ConversationKind(StrEnum):
    GROUP = "group"
    CHAT = "chat"


@dataclass(frozen=True)
class Conversation:
    """Where messages are posted: a group, or the private chat of two users of a domain."""

    domain: str
    kind: ConversationKind
    group_id: str | None = None
    user_ids: tuple[str, str] | None = None  # a chat's two users, sorted

    @staticmethod
    def of_group(domain: str, group_id: str) -> Conversation:
        return Conversation(domain, ConversationKind.GROUP, group_id=group_id)

    @staticmethod
    def of_chat(domain: str, user_a: str, user_b: str) -> Conversation:
        first, second = sorted((user_a, user_b))
        return Conversation(domain, ConversationKind.CHAT, user_ids=(first, second))


@dataclass(frozen=True)
class Message:
    id: str
    conversation: Conversation
    author_id: str
    text: str
    file_ids: tuple[str, ...]
    created_at: datetime
    via: Via | None = None  # set on a message an integration posted (author_id names it then)
    expires_at: datetime | None = None  # a HIPAA domain's content: never served from then on


@dataclass(frozen=True)
class Via:
    """Where a message posted by an integration came from: the service, and the name of the
    person there (a Slack user's name), shown beside the integration's display name."""

    service: str
    name: str
    display_name: str  # the integration's: the message shows as posted by it


@dataclass(frozen=True)
class File:
    """An uploaded file: its metadata here, its bytes in S3 under `s3_key`."""

    id: str
    domain: str
    owner_id: str
    filename: str
    content_type: str
    size: int
    s3_key: str
    created_at: datetime
    expires_at: datetime | None = None  # never served from then on (HIPAA, or still pending)
    # Not attached to any message yet: expires_at is a day after the upload at most
    # (Retention.upload_expires_at); the first message that carries the file ends it.
    pending: bool = False
