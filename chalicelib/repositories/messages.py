"""Messages of a group or of a private chat: one partition per conversation, sort key = the
message id (time-sortable), so "newest first, a page at a time" is one Query read backwards.

Every message also carries GSI1 keys (`D#<domain>#U#<author>#MESSAGES`, `<message id>`): the
messages a user posted, wherever, for the deletion of a user (API.md §4)."""

from __future__ import annotations

from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.core.cursors import Key
from chalicelib.domain.models import Conversation, ConversationKind, Message, Via
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Item, Table
from chalicelib.repositories.timestamps import expiry_of, parse_ms, ttl_of


def messages_pk(conversation: Conversation) -> str:
    """The partition of a conversation's messages (also what a cursor of its list must name)."""
    if conversation.kind is ConversationKind.GROUP:
        assert conversation.group_id is not None
        return keys.group_messages_pk(conversation.domain, conversation.group_id)
    assert conversation.user_ids is not None
    return keys.chat_messages_pk(conversation.domain, *conversation.user_ids)


def container(conversation: Conversation) -> str:
    """How an attachment names the conversation its message is in (`G#<id>` or `C#<a>#<b>`)."""
    if conversation.kind is ConversationKind.GROUP:
        assert conversation.group_id is not None
        return keys.group_container(conversation.group_id)
    assert conversation.user_ids is not None
    return keys.chat_container(*conversation.user_ids)


class MessageRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(conversation: Conversation, message_id: str) -> tuple[str, str]:
        return messages_pk(conversation), message_id

    def create_op(self, message: Message) -> dict[str, Any]:
        return self._table.put_op(self.to_item(message), ITEM_IS_NEW)

    def page(
        self, conversation: Conversation, limit: int, start_key: Key | None
    ) -> tuple[list[Message], Key | None]:
        """Newest first."""
        page = self._table.query(
            messages_pk(conversation), newest_first=True, limit=limit, start_key=start_key
        )
        return [self.from_item(i, conversation) for i in page.items], page.last_key

    @staticmethod
    def to_item(message: Message) -> Item:
        conversation = message.conversation
        return {
            "pk": messages_pk(conversation),
            "sk": message.id,
            "type": f"{conversation.kind.value}_message",
            "id": message.id,
            "author_id": message.author_id,
            "text": message.text,
            "file_ids": list(message.file_ids),
            "created_at": iso_ms(message.created_at),
            "ttl": ttl_of(message.expires_at),
            **_author_attributes(message),
        }

    @staticmethod
    def from_item(item: Item, conversation: Conversation) -> Message:
        return Message(
            id=item["id"],
            conversation=conversation,
            author_id=item["author_id"],
            text=item.get("text", ""),
            file_ids=tuple(item.get("file_ids") or ()),
            created_at=parse_ms(item["created_at"]),
            via=Via(**item["via"]) if item.get("via") else None,
            expires_at=expiry_of(item),
        )


def _author_attributes(message: Message) -> Item:
    """A person's message is found again by its author (GSI1, for the author's deletion); a
    message an integration posted names where it came from instead."""
    if message.via is not None:
        via = message.via
        return {"via": {"service": via.service, "name": via.name, "display_name": via.display_name}}
    return {
        "gsi1pk": keys.user_messages_gsi1pk(message.conversation.domain, message.author_id),
        "gsi1sk": message.id,
    }
