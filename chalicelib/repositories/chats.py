"""Private chats: besides the chat's messages (MessageRepository), each participant has a
"chat of a user" item in the user's own partition, `D#<domain>#U#<user>` / `CHAT#<other user>`,
so that "the chats of a user" (a user's deletion, a later chat list) is one Query of the user's
partition with begins_with CHAT#, with no index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table


class ChatRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def touch_ops(self, domain: str, user_a: str, user_b: str, at: datetime) -> list[dict[str, Any]]:
        """Both participants' chat items, written with every message: created by the first one
        (`started_at` is kept from then on), `last_message_at` moved by each. Idempotent."""
        return [self._touch_op(domain, me, other, at) for me, other in ((user_a, user_b), (user_b, user_a))]

    def partners_of(self, domain: str, user_id: str) -> list[str]:
        """The users this user has a private chat with."""
        items = self._table.query_all(keys.user_pk(domain, user_id), sk_prefix=keys.CHAT_PREFIX)
        return [i["other_id"] for i in items]

    def _touch_op(self, domain: str, me: str, other: str, at: datetime) -> dict[str, Any]:
        return self._table.update_op(
            keys.user_pk(domain, me),
            keys.chat_of_user_sk(other),
            "SET #type = :type, other_id = :other, chat = :chat,"
            " started_at = if_not_exists(started_at, :at), last_message_at = :at",
            {
                ":type": "chat_of_user",
                ":other": other,
                ":chat": keys.chat_pk(domain, me, other),
                ":at": iso_ms(at),
            },
            names={"#type": "type"},
        )
