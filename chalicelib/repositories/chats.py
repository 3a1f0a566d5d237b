"""Private chats: besides the chat's messages (MessageRepository), each participant has a
"chat of a user" item in the user's own partition, `D#<domain>#U#<user>` / `CHAT#<other user>`,
so that "the chats of a user" (a user's deletion) is one Query of the user's partition with
begins_with CHAT#, with no index.

The item also carries GSI1 keys, `D#<domain>#U#<user>#CHATS` / `<last_message_at>#<other user>`,
set by the same Update that sets `last_message_at`: the user's chats, most recent first, are one
Query of GSI1 read backwards (`GET /chats`). The keys live and die with the item, so a deletion
that removes the item removes its place in the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.core.cursors import Key
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.timestamps import expiry_of, parse_ms, ttl_of


@dataclass(frozen=True)
class ChatEntry:
    """One chat of a user: who with, and when its last message was posted."""

    other_id: str
    last_message_at: datetime
    expires_at: datetime | None = None  # a HIPAA domain's chat: gone with its last message


class ChatRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def touch_ops(
        self, domain: str, user_a: str, user_b: str, at: datetime, expires_at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Both participants' chat items, written with every message: created by the first one
        (`started_at` is kept from then on), `last_message_at` and the list's keys moved by each,
        on the condition that no later message moved them already (else ConditionFailed: see
        `keep_ops`). Idempotent."""
        pairs = ((user_a, user_b), (user_b, user_a))
        return [self._touch_op(domain, me, other, at, expires_at) for me, other in pairs]

    def keep_ops(
        self, domain: str, user_a: str, user_b: str, at: datetime, expires_at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """As `touch_ops`, for a message older than the chat's last one (two posts at once,
        committed out of order): the items are made if missing, and a later `last_message_at`
        (with its place in the list) stays as it is. Unconditional."""
        return [
            self._touch_op(domain, me, other, at, expires_at, forward_only=False)
            for me, other in ((user_a, user_b), (user_b, user_a))
        ]

    def partners_of(self, domain: str, user_id: str) -> list[str]:
        """The users this user has a private chat with."""
        items = self._table.query_all(keys.user_pk(domain, user_id), sk_prefix=keys.CHAT_PREFIX)
        return [i["other_id"] for i in items]

    def page_of_user(
        self, domain: str, user_id: str, limit: int, start_key: Key | None
    ) -> tuple[list[ChatEntry], Key | None]:
        """A page of the user's chats, most recent first (one Query of GSI1)."""
        page = self._table.query(
            keys.user_chats_gsi1pk(domain, user_id),
            index="gsi1",
            newest_first=True,
            limit=limit,
            start_key=start_key,
        )
        entries = [ChatEntry(i["other_id"], parse_ms(i["last_message_at"]), expiry_of(i)) for i in page.items]
        return entries, page.last_key

    def _touch_op(
        self,
        domain: str,
        me: str,
        other: str,
        at: datetime,
        expires_at: datetime | None,
        forward_only: bool = True,
    ) -> dict[str, Any]:
        """The chat item lives as long as its last message (its TTL moves with it)."""
        at_ms = iso_ms(at)
        values: dict[str, Any] = {}
        expiry = ""
        if expires_at is not None:
            expiry = ", #ttl = :ttl" if forward_only else ", #ttl = if_not_exists(#ttl, :ttl)"
            values[":ttl"] = ttl_of(expires_at)
        if forward_only:
            moved = "last_message_at = :at, gsi1sk = :gsi1sk"
            condition: str | None = "attribute_not_exists(last_message_at) OR last_message_at <= :at"
        else:
            moved = (
                "last_message_at = if_not_exists(last_message_at, :at),"
                " gsi1sk = if_not_exists(gsi1sk, :gsi1sk)"
            )
            condition = None
        return self._table.update_op(
            keys.user_pk(domain, me),
            keys.chat_of_user_sk(other),
            "SET #type = :type, other_id = :other, chat = :chat,"
            f" started_at = if_not_exists(started_at, :at), gsi1pk = :gsi1pk, {moved}{expiry}",
            {
                **values,
                ":type": "chat_of_user",
                ":other": other,
                ":chat": keys.chat_pk(domain, me, other),
                ":at": at_ms,
                ":gsi1pk": keys.user_chats_gsi1pk(domain, me),
                ":gsi1sk": keys.user_chat_gsi1sk(at_ms, other),
            },
            condition=condition,
            names={"#type": "type", **({"#ttl": "ttl"} if expires_at is not None else {})},
        )
