"""Default groups: every user who joins the domain (created, invited user accepting, activated,
imported) joins each of them, without touching memberships the user already has (a group admin
stays a group admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.models import Group, GroupRole, User
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Table
from chalicelib.repositories.groups import GroupRepository


class DefaultGroupJoiner:
    def __init__(self, table: Table, groups: GroupRepository) -> None:
        self._table = table
        self._groups = groups

    def join_ops(
        self, user: User, now: datetime, is_new_user: bool = False, defaults: list[Group] | None = None
    ) -> list[dict[str, Any]]:
        """Puts of the memberships the user lacks in the domain's default groups (read here,
        unless the caller read them once for many users)."""
        if defaults is None:
            defaults = self.default_groups(user.domain)
        if not defaults:
            return []
        current = set() if is_new_user else self._groups.group_ids_of_user(user.domain, user.id)
        return [
            self._table.put_op(
                self._groups.membership_item(group, user.id, GroupRole.MEMBER, now), ITEM_IS_NEW
            )
            for group in defaults
            if group.id not in current
        ]

    def default_groups(self, domain: str) -> list[Group]:
        return self._groups.list_default(domain)

    def membership_item(self, group: Group, user: User, now: datetime) -> dict[str, Any]:
        """A new user's membership of a default group, as an item (for batched writes)."""
        return self._groups.membership_item(group, user.id, GroupRole.MEMBER, now)
