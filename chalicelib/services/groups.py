"""§5 Groups: create, list mine, read, add or change a member, remove a member or leave.

Who may do what (API.md §0 Roles, §5):
- any user but a guest creates groups, and becomes the new group's admin and member;
- a group's members read the group; a domain admin reads any group of the domain (to manage
  it) — anyone else gets 404, as if the group did not exist;
- group admins and domain admins add members, change roles and remove members; a plain member
  trying it gets 403; everyone leaves by removing themself; nobody leaves or is removed from a
  default group (409 `default_group`);
- what a domain admin does to a group in which they are not a group admin is audited.

Checks run in the contract's order: the caller's access to the group (404, then 403) before the
body is read (`read_change` is called only then), then the target (404), then conflicts (409).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import Conflict, Forbidden, NotFound
from chalicelib.domain.models import (
    AuditEntry,
    Group,
    GroupRole,
    Membership,
    Principal,
    Role,
    User,
    UserStatus,
)
from chalicelib.repositories import keys
from chalicelib.repositories.audit import AuditRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.users import UserRepository
from chalicelib.services.transaction import Transaction

MAX_NAME = 100
MAX_DESCRIPTION = 1000


def group_not_found() -> NotFound:
    return NotFound("There is no such group, or you are not a member of it.", "group_not_found")


@dataclass(frozen=True)
class GroupAccess:
    """The caller's standing in a group: its membership (None if not a member), and whether the
    caller is a domain admin (who manages every group of the domain)."""

    group: Group
    membership: Membership | None
    domain_admin: bool
    guest: bool = False

    @property
    def is_group_admin(self) -> bool:
        """A guest is never one in effect, even with a group-admin membership from before the
        demotion to guest."""
        return not self.guest and self.membership is not None and self.membership.role is GroupRole.ADMIN

    @property
    def can_manage(self) -> bool:
        return self.domain_admin or self.is_group_admin


@dataclass(frozen=True)
class MemberChange:
    """The body of "add a member or change a member's role"; role None keeps the role of an
    existing member and makes a new one a plain member."""

    user_id: str
    role: GroupRole | None


@dataclass(frozen=True)
class MemberSet:
    membership: Membership
    user: User
    added: bool  # False: the user was already a member (the role may have changed)


class GroupService:
    def __init__(
        self,
        table: Table,
        groups: GroupRepository,
        users: UserRepository,
        audit: AuditRepository,
        clock: Clock,
    ) -> None:
        self._table = table
        self._groups = groups
        self._users = users
        self._audit = audit
        self._clock = clock

    # --- groups ------------------------------------------------------------------------------

    def check_can_create(self, principal: Principal) -> None:
        if principal.role is Role.GUEST:
            raise Forbidden("Guests cannot create groups.", "guest_not_allowed")

    def create(self, principal: Principal, name: str, description: str) -> tuple[Group, Membership]:
        self.check_can_create(principal)
        now = self._clock.now()
        group = Group(
            id=ids.new_id(),
            domain=principal.domain,
            name=name,
            description=description,
            created_by=principal.user.id,
            is_default=False,
            created_at=now,
        )
        membership = Membership(group.id, principal.user.id, GroupRole.ADMIN, now)
        tx = Transaction(self._table)
        tx.add(*self._groups.create_ops(group, [(principal.user.id, GroupRole.ADMIN)], now))
        tx.commit()
        return group, membership

    def list_mine(
        self, principal: Principal, limit: int, cursor: str | None
    ) -> tuple[list[tuple[Group, Membership]], str | None]:
        partition = keys.user_memberships_gsi1pk(principal.domain, principal.user.id)
        scope = cursor_scope("my_groups", principal.domain, principal.user.id)
        start = decode_cursor(cursor, "gsi1pk", partition, scope=scope)
        pairs, last = self._groups.page_of_user(principal.domain, principal.user.id, limit, start)
        return pairs, encode_cursor(last, scope=scope)

    def get(self, principal: Principal, group_id: str) -> GroupAccess:
        return self.access(principal, group_id)

    def access(self, principal: Principal, group_id: str) -> GroupAccess:
        """The group as the caller may see it: 404 unless a member or a domain admin."""
        group, membership = (
            self._groups.get_with_membership(principal.domain, group_id, principal.user.id)
            if ids.is_id(group_id)
            else (None, None)
        )
        domain_admin = principal.role is Role.ADMIN
        if group is None or (membership is None and not domain_admin):
            raise group_not_found()
        return GroupAccess(group, membership, domain_admin, guest=principal.role is Role.GUEST)

    # --- members -----------------------------------------------------------------------------

    def list_members(
        self, principal: Principal, group_id: str, limit: int, cursor: str | None
    ) -> tuple[list[tuple[Membership, User]], str | None]:
        """A group's members, by user id, to its members and domain admins (anyone else: 404, as
        for the group): one Query of the group's memberships, one BatchGetItem of their
        profiles. A user whose deletion has begun is left out (the deletion removes the
        membership); the page then holds fewer items, and its cursor goes on from there."""
        group = self.access(principal, group_id).group
        partition = keys.group_pk(group.domain, group.id)
        scope = cursor_scope("group_members", group.domain, group.id)
        start = decode_cursor(cursor, "pk", partition, scope=scope)
        memberships, last = self._groups.page_of_members(group.domain, group.id, limit, start)
        users = {u.id: u for u in self._users.get_many(group.domain, [m.user_id for m in memberships])}
        pairs = [
            (m, users[m.user_id])
            for m in memberships
            if m.user_id in users and not users[m.user_id].deletion_requested
        ]
        return pairs, encode_cursor(last, scope=scope)

    def set_member(
        self, principal: Principal, group_id: str, read_change: Callable[[], MemberChange]
    ) -> MemberSet:
        access = self.access(principal, group_id)
        if not access.can_manage:
            raise Forbidden(
                "Only the group's admins and domain admins manage its members.", "not_group_admin"
            )
        change = read_change()
        group = access.group
        user, current = self._target(principal, group, change.user_id)
        if user.status is UserStatus.DEACTIVATED:
            raise Conflict("This user is deactivated and cannot join groups.", "user_deactivated")
        role = change.role or (current.role if current else GroupRole.MEMBER)
        if role is GroupRole.ADMIN and user.role is Role.GUEST:
            raise Conflict("A guest cannot be a group admin.", "guest_cannot_be_group_admin")
        membership = Membership(group.id, user.id, role, current.joined_at if current else self._clock.now())
        if current == membership:
            return MemberSet(membership, user, added=False)  # nothing changes, nothing is written
        tx = Transaction(self._table)
        tx.add(self._groups.exists_check_op(group.domain, group.id), on_condition_failed=group_not_found())
        tx.add(self._groups.put_membership_op(group, membership))
        if not access.is_group_admin:
            action = "group.member_role_changed" if current else "group.member_added"
            tx.add(self._audit_op(principal, group, action, user, {"role": role.value}))
        tx.commit()
        return MemberSet(membership, user, added=current is None)

    def remove_member(self, principal: Principal, group_id: str, user_id: str) -> None:
        """Removes a member (group admins, domain admins) or leaves the group (oneself)."""
        access = self.access(principal, group_id)
        leaving = user_id == principal.user.id
        if not leaving and not access.can_manage:
            raise Forbidden(
                "Only the group's admins and domain admins remove its members.", "not_group_admin"
            )
        group = access.group
        if leaving:
            if access.membership is None:
                raise NotFound("You are not a member of this group.", "member_not_found")
            target = principal.user
        else:
            target, current = self._target(principal, group, user_id)
            if current is None:
                raise NotFound("This user is not a member of the group.", "member_not_found")
        if group.is_default:
            raise Conflict("Nobody leaves or is removed from a default group.", "default_group")
        tx = Transaction(self._table)
        tx.add(
            self._groups.exists_and_not_default_check_op(group.domain, group.id),
            on_condition_failed=Conflict(
                "Nobody leaves or is removed from a default group.", "default_group"
            ),
        )
        tx.add(
            self._groups.remove_membership_op(group.domain, group.id, target.id),
            on_condition_failed=NotFound("This user is not a member of the group.", "member_not_found"),
        )
        if not leaving and not access.is_group_admin:
            tx.add(self._audit_op(principal, group, "group.member_removed", target, {}))
        tx.commit()

    def _target(self, principal: Principal, group: Group, user_id: str) -> tuple[User, Membership | None]:
        """The user a change is about (404 if not a user of this domain) and their membership."""
        user = self._users.get(principal.domain, user_id) if ids.is_id(user_id) else None
        if user is None or user.deletion_requested:
            raise NotFound("There is no such user in this domain.", "user_not_found")
        return user, self._groups.get_membership(principal.domain, group.id, user.id)

    def _audit_op(
        self, principal: Principal, group: Group, action: str, user: User, details: dict[str, str]
    ) -> dict[str, Any]:
        entry = AuditEntry(
            at=self._clock.now(),
            actor=principal.user.email,
            action=action,
            target=f"group:{group.id}",
            details={"group": group.name, "user_id": user.id, "email": user.email, **details},
        )
        return self._audit.append_op(principal.domain, entry)
