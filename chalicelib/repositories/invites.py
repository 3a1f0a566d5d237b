"""Invitations: one INVITE item in the invited user's partition, holding only the SHA-256 of the
token. A new invitation overwrites it (the old link dies); accepting deletes it under the
condition that the hash is still the one presented (single use, even under a race)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.clock import epoch, iso_ms
from chalicelib.domain.models import Domain, User
from chalicelib.repositories import keys
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms
from chalicelib.repositories.users import UserRepository


@dataclass(frozen=True)
class Invite:
    token_hash: str
    expires_at: datetime
    created_at: datetime


class InviteRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(domain: str, user_id: str) -> tuple[str, str]:
        return keys.user_pk(domain, user_id), keys.INVITE

    def put_op(self, domain: str, user_id: str, invite: Invite) -> dict[str, Any]:
        return self._table.put_op(self.item(domain, user_id, invite))

    def item(self, domain: str, user_id: str, invite: Invite) -> Item:
        """The INVITE item (a new one replaces the old: the old link dies)."""
        pk, sk = self.key(domain, user_id)
        return {
            "pk": pk,
            "sk": sk,
            "type": "invite",
            "token_hash": invite.token_hash,
            "created_at": iso_ms(invite.created_at),
            "expires_at": iso_ms(invite.expires_at),
            "ttl": epoch(invite.expires_at) + 86400,
        }

    def consume_op(self, domain: str, user_id: str, token_hash: str) -> dict[str, Any]:
        return self._table.delete_op(
            *self.key(domain, user_id), Condition("token_hash = :hash", {":hash": token_hash})
        )

    def delete_op(self, domain: str, user_id: str) -> dict[str, Any]:
        return self._table.delete_op(*self.key(domain, user_id))

    def load(self, domain: str, user_id: str) -> tuple[Domain | None, User | None, Invite | None]:
        """Domain, user and invitation in one BatchGetItem."""
        domain_item, user_item, invite_item = self._table.get_each(
            DomainRepository.key(domain),
            UserRepository.profile_key(domain, user_id),
            self.key(domain, user_id),
        )
        return (
            DomainRepository.from_item(domain_item) if domain_item else None,
            UserRepository.from_item(user_item) if user_item else None,
            self._from_item(invite_item) if invite_item else None,
        )

    @staticmethod
    def _from_item(item: Item) -> Invite:
        return Invite(
            token_hash=item["token_hash"],
            expires_at=parse_ms(item["expires_at"]),
            created_at=parse_ms(item["created_at"]),
        )
