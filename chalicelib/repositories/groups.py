"""Groups: a META item in the group's partition, and a MEMBER item per member there too.

Each membership also carries GSI1 keys (`D#<domain>#U#<user>#GROUPS`, `GROUP#<id>`) so that
"the groups of a user" is one Query on GSI1. A group's META carries GSI2 keys ("the groups of a
domain", by name), GSI1 keys when a user created it ("the groups a user created") and, only
while it is a default group, GSI3 keys ("the default groups of a domain")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.models import Group, GroupRole
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Item, Table
from chalicelib.repositories.timestamps import parse_ms


class GroupRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create_ops(
        self, group: Group, members: list[tuple[str, GroupRole]], joined_at: datetime
    ) -> list[dict[str, Any]]:
        ops = [self._table.put_op(self.to_item(group), ITEM_IS_NEW)]
        ops += [
            self._table.put_op(self.membership_item(group, user_id, role, joined_at), ITEM_IS_NEW)
            for user_id, role in members
        ]
        return ops

    def list_of_user(self, domain: str, user_id: str) -> list[Group]:
        memberships = self._table.query_all(keys.user_memberships_gsi1pk(domain, user_id), index="gsi1")
        group_keys = [(keys.group_pk(domain, m["group_id"]), keys.META) for m in memberships]
        found = self._table.batch_get(group_keys)
        groups = [self.from_item(found[k]) for k in group_keys if k in found]
        return sorted(groups, key=lambda g: g.name.lower())

    def group_ids_of_user(self, domain: str, user_id: str) -> set[str]:
        """Ids of the groups a user is a member of (one Query of GSI1, no group reads)."""
        items = self._table.query_all(keys.user_memberships_gsi1pk(domain, user_id), index="gsi1")
        return {i["group_id"] for i in items}

    def list_default(self, domain: str) -> list[Group]:
        """The domain's default groups (sparse GSI3), sorted by name."""
        items = self._table.query_all(keys.default_groups_gsi3pk(domain), index="gsi3")
        return [self.from_item(i) for i in items]

    @staticmethod
    def to_item(group: Group) -> Item:
        return {
            "pk": keys.group_pk(group.domain, group.id),
            "sk": keys.META,
            "type": "group",
            "id": group.id,
            "domain": group.domain,
            "name": group.name,
            "description": group.description,
            "created_by": group.created_by,
            "is_default": group.is_default,
            "created_at": iso_ms(group.created_at),
            "gsi2pk": keys.domain_groups_gsi2pk(group.domain),
            "gsi2sk": f"{group.name.lower()}#{group.id}",
            "gsi1pk": keys.created_groups_gsi1pk(group.domain, group.created_by)
            if group.created_by
            else None,
            "gsi1sk": keys.group_sk(group.id) if group.created_by else None,
            "gsi3pk": keys.default_groups_gsi3pk(group.domain) if group.is_default else None,
            "gsi3sk": f"{group.name.lower()}#{group.id}" if group.is_default else None,
        }

    @staticmethod
    def membership_item(group: Group, user_id: str, role: GroupRole, joined_at: datetime) -> Item:
        return {
            "pk": keys.group_pk(group.domain, group.id),
            "sk": keys.member_sk(user_id),
            "type": "membership",
            "group_id": group.id,
            "user_id": user_id,
            "role": role.value,
            "joined_at": iso_ms(joined_at),
            "gsi1pk": keys.user_memberships_gsi1pk(group.domain, user_id),
            "gsi1sk": keys.group_sk(group.id),
        }

    @staticmethod
    def from_item(item: Item) -> Group:
        return Group(
            id=item["id"],
            domain=item["domain"],
            name=item["name"],
            description=item.get("description", ""),
            created_by=item.get("created_by"),
            is_default=bool(item.get("is_default", False)),
            created_at=parse_ms(item["created_at"]),
        )
