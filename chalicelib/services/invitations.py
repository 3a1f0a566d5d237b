"""§2 `POST /auth/accept-invite`: an invited user sets a password, becomes active, joins the
default groups and is signed in — one transaction, the invitation consumed under the condition
that it is still the one presented (a link works once, even when clicked twice at once)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from chalicelib.core.clock import Clock
from chalicelib.core.errors import Gone, Unauthorized
from chalicelib.domain import rules, two_factor
from chalicelib.domain.models import AuditEntry, AuthProvider, ClientKind, Role, UserStatus
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.invites import InviteRepository
from chalicelib.repositories.sessions import SessionRepository
from chalicelib.repositories.users import UserIndexRepository, UserRepository
from chalicelib.services import tokens
from chalicelib.services.memberships import DefaultGroupJoiner
from chalicelib.services.passwords import PasswordHasher
from chalicelib.services.signin import LoginResult, SignIn, check_domain_open, new_session, sso_required
from chalicelib.services.transaction import Transaction
from chalicelib.services.two_factor import TwoFactorService


@dataclass(frozen=True)
class Acceptance:
    token: str
    password: str
    first_name: str | None
    last_name: str | None
    client: ClientKind


def invalid_invite() -> Unauthorized:
    return Unauthorized(
        "This invitation link is not valid (it may have been used already).", "invalid_invite"
    )


class InvitationService:
    def __init__(
        self,
        table: Table,
        invites: InviteRepository,
        users: UserRepository,
        index: UserIndexRepository,
        domains: DomainRepository,
        sessions: SessionRepository,
        audit: AuditRepository,
        joiner: DefaultGroupJoiner,
        hasher: PasswordHasher,
        two_factor: TwoFactorService,
        clock: Clock,
    ) -> None:
        self._table = table
        self._invites = invites
        self._users = users
        self._index = index
        self._domains = domains
        self._sessions = sessions
        self._audit = audit
        self._joiner = joiner
        self._hasher = hasher
        self._two_factor = two_factor
        self._clock = clock

    def accept(self, acceptance: Acceptance) -> SignIn:
        """Where the domain has 2FA on, the password is set and the user is active, but the
        answer is the second step, as at a login: no token until it is passed."""
        parsed = tokens.parse_token(acceptance.token.strip())
        if parsed is None:
            raise invalid_invite()
        domain, user, invite = self._invites.load(parsed.domain, parsed.user_id)
        if domain is None or user is None or invite is None:
            raise invalid_invite()
        if not hmac.compare_digest(invite.token_hash, parsed.token_hash):
            raise invalid_invite()
        now = self._clock.now()
        if invite.expires_at <= now:
            raise Gone("This invitation has expired; ask your admin for a new one.", "invite_expired")
        check_domain_open(domain)
        if user.status is not UserStatus.INVITED:
            raise invalid_invite()
        if user.auth_provider is not AuthProvider.PASSWORD:
            raise sso_required(user)
        rules.check_password(acceptance.password, user.email)
        after = replace(
            user,
            status=UserStatus.ACTIVE,
            first_name=acceptance.first_name or user.first_name,
            last_name=acceptance.last_name or user.last_name,
        )
        token, session = new_session(domain.name, user.id, acceptance.client, now)
        tx = Transaction(self._table)
        tx.add(
            self._invites.consume_op(domain.name, user.id, parsed.token_hash),
            on_condition_failed=invalid_invite(),
        )
        tx.add(self._users.save_op(after, user), on_condition_failed=invalid_invite())
        tx.add(self._users.set_password_op(domain.name, user.email, self._hasher.hash(acceptance.password)))
        tx.add(*self._index.replace_ops(user, after))
        if after.role is Role.ADMIN:
            tx.add(self._domains.counters_op(domain.name, admins=1))
        tx.add(*self._joiner.join_ops(after, now))
        challenged = two_factor.is_challenged(domain.security, after, acceptance.client)
        if not challenged:
            tx.add(self._sessions.create_op(session))
        entry = AuditEntry(at=now, actor=user.email, action="user.invite_accepted", target=f"user:{user.id}")
        tx.add(self._audit.append_op(domain.name, entry))
        tx.commit()
        if challenged:
            return self._two_factor.issue(domain, after, acceptance.client)
        return LoginResult(token=token, session=session, user=after, domain=domain)
