"""The admin's view of a domain's groups: all of them by name (GSI2), the default ones (GSI3),
and the reads and writes of marking a group default."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.models import Group, GroupRole
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository


class DomainGroupRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, domain: str, group_id: str) -> Group | None:
        item = self._table.get(keys.group_pk(domain, group_id), keys.META)
        return GroupRepository.from_item(item) if item else None

    def list_groups(
        self, domain: str, default_only: bool, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[Group], dict[str, Any] | None]:
        if default_only:
            page = self._table.query(
                keys.default_groups_gsi3pk(domain), index="gsi3", limit=limit, start_key=start_key
            )
        else:
            page = self._table.query(
                keys.domain_groups_gsi2pk(domain), index="gsi2", limit=limit, start_key=start_key
            )
        return [GroupRepository.from_item(i) for i in page.items], page.last_key

    def save_op(self, group: Group) -> dict[str, Any]:
        """The group's META as it now is (the default flag moves it in or out of GSI3)."""
        return self._table.put_op(GroupRepository.to_item(group))

    def missing_members(self, group: Group, user_ids: list[str]) -> list[str]:
        """Which of these users are not members of the group (BatchGetItem of their memberships)."""
        wanted = [(keys.group_pk(group.domain, group.id), keys.member_sk(uid)) for uid in user_ids]
        found = self._table.batch_get(wanted)
        return [uid for uid, key in zip(user_ids, wanted, strict=True) if key not in found]

    def add_members(self, group: Group, user_ids: list[str], now: datetime) -> None:
        """BatchWriteItem of plain memberships (idempotent: the same Put twice is one membership)."""
        items = [GroupRepository.membership_item(group, uid, GroupRole.MEMBER, now) for uid in user_ids]
        self._table.batch_write(puts=items)

    def roster_page(
        self, domain: str, start_key: dict[str, Any] | None, limit: int
    ) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
        """(user id, status) of a page of the domain's roster."""
        page = self._table.query(keys.roster_pk(domain), limit=limit, start_key=start_key)
        return [(i["user_id"], i["sk"].split("#", 1)[0]) for i in page.items], page.last_key
