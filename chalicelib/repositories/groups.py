"""Groups: a META item in the group's partition, and a MEMBER item per member there too.

Each membership also carries GSI1 keys (`D#<domain>#U#<user>#GROUPS`, `GROUP#<id>`) so that
"the groups of a user" is one Query on GSI1. A group's META carries GSI2 keys ("the groups of a
domain", by name), GSI1 keys when a user created it ("the groups a user created") and, only
while it is a default group, GSI3 keys ("the default groups of a domain")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.models import Group, GroupRole, Membership
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.dynamo import ITEM_EXISTS, ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms


class GroupRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create_ops(
        self, group: Group, members: list[tuple[str, GroupRole]], joined_at: datetime
    ) -> list[dict[str, Any]]:
        ops = [self._table.put_op(self.to_item(group), ITEM_IS_NEW)]
        ops.append(self._table.put_op(partitions.group_entry(group.domain, group.id)))
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

    # --- members and group content (issue 4: groups, messages, chats, files) ---------------

    def get_with_membership(
        self, domain: str, group_id: str, user_id: str
    ) -> tuple[Group | None, Membership | None]:
        """The group and the user's membership of it, in one BatchGetItem."""
        pk = keys.group_pk(domain, group_id)
        group_item, member_item = self._table.get_each((pk, keys.META), (pk, keys.member_sk(user_id)))
        return (
            self.from_item(group_item) if group_item else None,
            self.membership_from_item(member_item) if member_item else None,
        )

    def get_membership(self, domain: str, group_id: str, user_id: str) -> Membership | None:
        item = self._table.get(keys.group_pk(domain, group_id), keys.member_sk(user_id))
        return self.membership_from_item(item) if item else None

    def page_of_user(
        self, domain: str, user_id: str, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[tuple[Group, Membership]], dict[str, Any] | None]:
        """A page of the user's groups (GSI1, by group id, so oldest group first) with the
        user's membership of each: one Query and one BatchGetItem."""
        page = self._table.query(
            keys.user_memberships_gsi1pk(domain, user_id), index="gsi1", limit=limit, start_key=start_key
        )
        memberships = [self.membership_from_item(i) for i in page.items]
        group_keys = [(keys.group_pk(domain, m.group_id), keys.META) for m in memberships]
        found = self._table.batch_get(group_keys)
        pairs = zip(group_keys, memberships, strict=True)
        return [(self.from_item(found[k]), m) for k, m in pairs if k in found], page.last_key

    def page_of_members(
        self, domain: str, group_id: str, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[Membership], dict[str, Any] | None]:
        """A page of a group's memberships, by user id (ids sort by creation time: the users who
        joined the domain first come first): one Query of the group's partition."""
        page = self._table.query(
            keys.group_pk(domain, group_id), sk_prefix=keys.MEMBER_PREFIX, limit=limit, start_key=start_key
        )
        return [self.membership_from_item(i) for i in page.items], page.last_key

    def member_of(self, domain: str, user_id: str, group_ids: list[str]) -> set[str]:
        """Which of these groups the user is a member of (one BatchGetItem per 100 groups)."""
        wanted = {gid: (keys.group_pk(domain, gid), keys.member_sk(user_id)) for gid in group_ids}
        found = self._table.batch_get(list(wanted.values()))
        return {gid for gid, k in wanted.items() if k in found}

    def put_membership_op(self, group: Group, membership: Membership) -> dict[str, Any]:
        """Adds the member, or changes the role of one (the membership item is overwritten)."""
        item = self.membership_item(group, membership.user_id, membership.role, membership.joined_at)
        return self._table.put_op(item)

    def remove_membership_op(self, domain: str, group_id: str, user_id: str) -> dict[str, Any]:
        """Deletes a membership that must still exist."""
        return self._table.delete_op(keys.group_pk(domain, group_id), keys.member_sk(user_id), ITEM_EXISTS)

    def is_member_check_op(self, domain: str, group_id: str, user_id: str) -> dict[str, Any]:
        """A transaction's check that the user is (still) a member of the group."""
        return self._check_op(keys.group_pk(domain, group_id), keys.member_sk(user_id), ITEM_EXISTS)

    def exists_and_not_default_check_op(self, domain: str, group_id: str) -> dict[str, Any]:
        """A transaction's check that the group exists and is not (now) a default group."""
        condition = Condition("attribute_exists(pk) AND is_default = :false", {":false": False})
        return self._check_op(keys.group_pk(domain, group_id), keys.META, condition)

    def exists_check_op(self, domain: str, group_id: str) -> dict[str, Any]:
        return self._check_op(keys.group_pk(domain, group_id), keys.META, ITEM_EXISTS)

    def _check_op(self, pk: str, sk: str, condition: Condition) -> dict[str, Any]:
        return self._table.check_op(pk, sk, condition)

    @staticmethod
    def membership_from_item(item: Item) -> Membership:
        return Membership(
            group_id=item["group_id"],
            user_id=item["user_id"],
            role=GroupRole(item.get("role", GroupRole.MEMBER.value)),
            joined_at=parse_ms(item["joined_at"]),
        )

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
