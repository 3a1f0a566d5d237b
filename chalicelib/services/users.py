"""§4 Users: create (invited), search, read, change, invite, deactivate, activate.

Every change of a user is one transaction over the profile, the user's list entries (roster and
search), the domain's counters (seats used, active admins — their conditions are what refuse the
seat limit and the last admin, race-free) and the audit entry."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import Conflict, Forbidden, NotFound
from chalicelib.core.log import get_logger
from chalicelib.domain import rules
from chalicelib.domain.models import AuditEntry, AuthProvider, Enrolment, Principal, Role, User, UserStatus
from chalicelib.notifications.email import INVITATION, EmailSender
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.invites import Invite, InviteRepository
from chalicelib.repositories.sessions import SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository, search_text
from chalicelib.services import tokens
from chalicelib.services.memberships import DefaultGroupJoiner
from chalicelib.services.transaction import Transaction

log = get_logger(__name__)

INVITE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class NewUser:
    email: str
    first_name: str
    last_name: str
    title: str = ""
    phone: str = ""
    department: str = ""
    role: Role = Role.MEMBER
    auth_provider: AuthProvider = AuthProvider.PASSWORD
    send_invite: bool = False


@dataclass(frozen=True)
class UserChanges:
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    phone: str | None = None
    department: str | None = None
    role: Role | None = None
    auth_provider: AuthProvider | None = None


@dataclass(frozen=True)
class InvitationSent:
    sent: bool
    expires_at: datetime


def seat_limit_reached() -> Forbidden:
    return Forbidden("Every seat of this domain is taken; free one or buy more.", "seat_limit_reached")


def last_admin() -> Conflict:
    return Conflict("The domain must keep at least one active admin.", "last_admin")


class UserService:
    def __init__(
        self,
        table: Table,
        users: UserRepository,
        index: UserIndexRepository,
        domains: DomainRepository,
        invites: InviteRepository,
        sessions: SessionRepository,
        audit: AuditRepository,
        joiner: DefaultGroupJoiner,
        mailer: EmailSender,
        clock: Clock,
    ) -> None:
        self._table = table
        self._users = users
        self._index = index
        self._domains = domains
        self._invites = invites
        self._sessions = sessions
        self._audit = audit
        self._joiner = joiner
        self._mailer = mailer
        self._clock = clock

    # --- reads ---------------------------------------------------------------------------------

    def get(self, principal: Principal, user_id: str) -> User:
        user = self._users.get(principal.domain, user_id) if ids.is_id(user_id) else None
        if user is None or user.deletion_requested:
            raise NotFound("There is no such user in this domain.", "user_not_found")
        return user

    def search(
        self,
        principal: Principal,
        query: str,
        status: UserStatus | None,
        limit: int,
        cursor: str | None,
        enrolment: Enrolment | None = None,
    ) -> tuple[list[User], str | None]:
        prefix = search_text(query)  # "  Bo   Ng" → "bo ng": a prefix of the full name too
        status_value = status.value if status else None
        enrolment_value = enrolment.value if enrolment else None
        domain = principal.domain
        scope = cursor_scope("admin_users", domain, status=status_value, q=prefix, two_factor=enrolment_value)
        if prefix:
            start = decode_cursor(cursor, "pk", keys.user_search_pk(domain), scope=scope)
            user_ids, last = self._index.search(domain, prefix, status_value, limit, start, enrolment_value)
        else:
            roster = (
                keys.two_factor_roster_pk(domain, enrolment_value)
                if enrolment_value
                else keys.roster_pk(domain)
            )
            start = decode_cursor(cursor, "pk", roster, scope=scope)
            user_ids, last = self._index.list_roster(domain, status_value, limit, start, enrolment_value)
        return self._users.get_many(principal.domain, user_ids), encode_cursor(last, scope=scope)

    # --- create and change -----------------------------------------------------------------------

    def create(self, principal: Principal, new: NewUser) -> tuple[User, InvitationSent | None]:
        now = self._clock.now()
        email = rules.normalize_email(new.email)
        user = User(
            id=ids.new_id(),
            domain=principal.domain,
            email=email,
            first_name=new.first_name,
            last_name=new.last_name,
            title=new.title,
            phone=new.phone,
            department=new.department,
            role=new.role,
            auth_provider=new.auth_provider,
            status=UserStatus.INVITED,
            created_at=now,
        )
        tx = Transaction(self._table)
        tx.add(
            *self._users.create_ops(user, None),
            on_condition_failed=Conflict(f"{email} already has an account in this domain.", "user_exists"),
        )
        tx.add(self._domains.counters_op(principal.domain, seats=1), on_condition_failed=seat_limit_reached())
        tx.add(*self._index.put_ops(user))
        tx.add(*self._joiner.join_ops(user, now, is_new_user=True))
        token = self._add_invite(tx, user, now) if new.send_invite else None
        tx.add(self._audit_op(principal, "user.created", user, {"email": email, "role": user.role.value}))
        tx.commit()
        invitation = self._send_invite(principal, user, token, now) if token else None
        return user, invitation

    def update(self, principal: Principal, user_id: str, changes: UserChanges) -> User:
        before = self.get(principal, user_id)
        after = replace(
            before,
            **{name: value for name, value in vars(changes).items() if value is not None},
        )
        if after == before:
            return before
        tx = Transaction(self._table)
        tx.add(self._users.save_op(after, before), on_condition_failed=_changed())
        tx.add(*self._index.replace_ops(before, after))
        admins = _active_admin(after) - _active_admin(before)
        if admins:
            tx.add(
                self._domains.counters_op(principal.domain, admins=admins), on_condition_failed=last_admin()
            )
        changed = {
            k: v.value if isinstance(v, (Role, AuthProvider)) else v
            for k, v in vars(changes).items()
            if v is not None
        }
        tx.add(self._audit_op(principal, "user.updated", after, changed))
        tx.commit()
        return after

    # --- invitations -----------------------------------------------------------------------------

    def invite(self, principal: Principal, user_id: str) -> InvitationSent:
        user = self.get(principal, user_id)
        if user.status is not UserStatus.INVITED:
            raise Conflict("This user has already accepted or is deactivated.", "user_not_invited")
        now = self._clock.now()
        tx = Transaction(self._table)
        token = self._add_invite(tx, user, now)
        tx.add(self._audit_op(principal, "user.invited", user, {"email": user.email}))
        tx.commit()
        return self._send_invite(principal, user, token, now)

    def _add_invite(self, tx: Transaction, user: User, now: datetime) -> str:
        token = tokens.new_token(user.domain, user.id)
        invite = Invite(token_hash=tokens.hash_token(token), expires_at=now + INVITE_LIFETIME, created_at=now)
        tx.add(self._invites.put_op(user.domain, user.id, invite))
        return token

    def _send_invite(self, principal: Principal, user: User, token: str, now: datetime) -> InvitationSent:
        link = f"{get_settings().public_url}/accept-invite?token={token}"
        inviter = principal.user.name or principal.user.email
        email = INVITATION.render(
            {"to": user.email, "name": user.first_name or user.email, "inviter": inviter}
            | {"domain": user.domain, "link": link}
        )
        expires_at = now + INVITE_LIFETIME
        try:
            self._mailer.send(email)
        except Exception:  # the invitation exists either way; the admin can send it again
            log.exception("invitation email not sent", extra={"fields": {"user_id": user.id}})
            return InvitationSent(sent=False, expires_at=expires_at)
        return InvitationSent(sent=True, expires_at=expires_at)

    # --- deactivate / activate ---------------------------------------------------------------------

    def deactivate(self, principal: Principal, user_id: str) -> User:
        """Keeps every message, group and file; ends every token at once. Idempotent."""
        before = self.get(principal, user_id)
        if before.status is UserStatus.DEACTIVATED:
            return before
        if before.id == principal.user.id:
            raise Conflict("You cannot deactivate yourself; ask another admin.", "cannot_deactivate_self")
        after = replace(before, status=UserStatus.DEACTIVATED)
        tx = Transaction(self._table)
        tx.add(self._users.save_op(after, before), on_condition_failed=_changed())
        tx.add(*self._index.replace_ops(before, after))
        tx.add(
            self._domains.counters_op(principal.domain, seats=-1, admins=-_active_admin(before)),
            on_condition_failed=last_admin(),
        )
        tx.add(self._invites.delete_op(principal.domain, before.id))
        tx.add(self._audit_op(principal, "user.deactivated", after, {"email": after.email}))
        tx.commit()
        self._sessions.delete_all_of_user(principal.domain, before.id)
        return after

    def activate(self, principal: Principal, user_id: str) -> User:
        """Takes a seat again and re-joins the default groups. A user who never set a password
        goes back to invited. Idempotent."""
        before = self.get(principal, user_id)
        if before.status is not UserStatus.DEACTIVATED:
            return before
        credentials = self._users.get_credentials(principal.domain, before.email)
        has_password = credentials is not None and credentials.password_hash is not None
        after = replace(before, status=UserStatus.ACTIVE if has_password else UserStatus.INVITED)
        now = self._clock.now()
        tx = Transaction(self._table)
        tx.add(
            self._domains.counters_op(principal.domain, seats=1, admins=_active_admin(after)),
            on_condition_failed=seat_limit_reached(),
        )
        tx.add(self._users.save_op(after, before), on_condition_failed=_changed())
        tx.add(*self._index.replace_ops(before, after))
        tx.add(*self._joiner.join_ops(after, now), on_condition_failed=_changed())
        tx.add(self._audit_op(principal, "user.activated", after, {"email": after.email}))
        tx.commit()
        return after

    def _audit_op(
        self, principal: Principal, action: str, user: User, details: dict[str, object]
    ) -> dict[str, object]:
        entry = AuditEntry(
            at=self._clock.now(),
            actor=principal.user.email,
            action=action,
            target=f"user:{user.id}",
            details=details,
        )
        return self._audit.append_op(principal.domain, entry)


def _active_admin(user: User) -> int:
    """1 if the user counts among the domain's active admins."""
    return int(user.status is UserStatus.ACTIVE and user.role is Role.ADMIN)


def _changed() -> Conflict:
    return Conflict("This user changed at the same moment; read it again and retry.", "concurrent_change")
