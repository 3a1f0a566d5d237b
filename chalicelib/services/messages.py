"""§5 Messages: posting to and reading a group (its members only — a domain admin included: an
admin manages any group but reads its messages only as a member) and a private chat between the
caller and another user of the domain.

A message is written in one transaction with what must hold or change with it: the poster's
membership (still a member), one attachment item per file it carries (so the file's readers can
be found from the file), the record of each file it is the first to carry (no longer pending: kept
as the domain keeps content, and its object's pending tag removed before the transaction), and, for
a chat, both users' "chat of a user" items (with their place in each user's list of chats, most
recent first: `GET /chats`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.cursors import cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import BadRequest, Conflict, InvalidField, NotFound
from chalicelib.domain.integrations import Integration, Service
from chalicelib.domain.models import Conversation, File, Message, Principal, User, UserStatus, expired
from chalicelib.repositories import keys
from chalicelib.repositories.chats import ChatRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.files import FileRepository
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.repositories.messages import MessageRepository, messages_pk
from chalicelib.repositories.users import UserRepository
from chalicelib.services.files import FileService, check_file_ids
from chalicelib.services.groups import group_not_found
from chalicelib.services.transaction import Transaction

MAX_TEXT = 40_000


def check_text(text: str, has_files: bool) -> str:
    """1 to 40 000 characters; a message that carries files may have no text."""
    if len(text) > MAX_TEXT:
        raise InvalidField("text", f"must be at most {MAX_TEXT} characters", "text_too_long")
    if not text and not has_files:
        raise InvalidField("text", "is required (only a message with files may have none)", "missing_field")
    return text


@dataclass(frozen=True)
class NewMessage:
    text: str
    file_ids: list[str]


@dataclass(frozen=True)
class Messages:
    """Messages with what their answer shows: the authors (by id; a deleted author is absent)
    and the files they carry (by id)."""

    items: list[Message]
    authors: dict[str, User]
    files: dict[str, File]
    next_cursor: str | None = None


@dataclass(frozen=True)
class ChatSummary:
    """One of the caller's private chats, as `GET /chats` shows it: the other user and the time
    of the chat's last message."""

    user: User
    last_message_at: datetime


class _NewerMessageFirst(Conflict):
    """A later message of the same chat committed first: its time stays the chat's last."""

    def __init__(self) -> None:
        super().__init__("A later message of this chat was posted at the same moment.", "concurrent_change")


class MessageService:
    def __init__(
        self,
        table: Table,
        groups: GroupRepository,
        users: UserRepository,
        messages: MessageRepository,
        chats: ChatRepository,
        files: FileRepository,
        file_service: FileService,
        integrations: IntegrationRepository,
        relay: Callable[[Principal, Message, Integration | None], None],
        clock: Clock,
    ) -> None:
        self._integrations = integrations
        self._relay = relay
        self._table = table
        self._groups = groups
        self._users = users
        self._messages = messages
        self._chats = chats
        self._files = files
        self._file_service = file_service
        self._clock = clock

    # --- groups ------------------------------------------------------------------------------

    def post_to_group(self, principal: Principal, group_id: str, read: Callable[[], NewMessage]) -> Messages:
        """The poster's membership and the group's Slack integration come in one read (a group
        without one costs no call more); a connected one gets the message as a job."""
        membership, integration = (
            self._integrations.membership_and_integration(
                principal.domain, group_id, principal.user.id, Service.SLACK
            )
            if ids.is_id(group_id)
            else (None, None)
        )
        if membership is None:
            raise group_not_found()
        conversation = Conversation.of_group(principal.domain, group_id)
        message, files, attached = self._compose(principal, conversation, read())
        tx = Transaction(self._table)
        tx.add(
            self._groups.is_member_check_op(principal.domain, group_id, principal.user.id),
            on_condition_failed=group_not_found(),
        )
        self._commit(tx, message, attached)
        self._relay(principal, message, integration)
        return Messages([message], {principal.user.id: principal.user}, {f.id: f for f in files})

    def list_group(self, principal: Principal, group_id: str, limit: int, cursor: str | None) -> Messages:
        self._require_member(principal, group_id)
        return self._page(Conversation.of_group(principal.domain, group_id), limit, cursor)

    def _require_member(self, principal: Principal, group_id: str) -> None:
        if (
            not ids.is_id(group_id)
            or self._groups.get_membership(principal.domain, group_id, principal.user.id) is None
        ):
            raise group_not_found()

    # --- private chats -----------------------------------------------------------------------

    def post_to_chat(self, principal: Principal, user_id: str, read: Callable[[], NewMessage]) -> Messages:
        other = self._chat_partner(principal, user_id)
        new = read()
        if other.status is UserStatus.DEACTIVATED:
            raise Conflict(
                "This user is deactivated; the chat can be read but not written to.", "user_deactivated"
            )
        conversation = Conversation.of_chat(principal.domain, principal.user.id, other.id)
        message, files, attached = self._compose(principal, conversation, new)
        domain, me, at = principal.domain, principal.user.id, message.created_at
        tx = Transaction(self._table)
        expires = message.expires_at
        tx.add(
            *self._chats.touch_ops(domain, me, other.id, at, expires),
            on_condition_failed=_NewerMessageFirst(),
        )
        try:
            self._commit(tx, message, attached)
        except _NewerMessageFirst:
            # Two posts at once, the later committed first: post this one without moving the
            # chat's last_message_at (and its place in both users' lists) back in time.
            tx = Transaction(self._table)
            tx.add(*self._chats.keep_ops(domain, me, other.id, at, expires))
            self._commit(tx, message, attached)
        return Messages([message], {principal.user.id: principal.user}, {f.id: f for f in files})

    def list_chats(
        self, principal: Principal, limit: int, cursor: str | None
    ) -> tuple[list[ChatSummary], str | None]:
        """The caller's private chats, most recent first: one Query of the caller's chat index,
        one BatchGetItem of the other users' profiles (100 a call). A chat whose other user is
        being deleted is left out (the deletion destroys it); the page then holds fewer items,
        and its cursor goes on from where it ended."""
        domain, me = principal.domain, principal.user.id
        scope = cursor_scope("my_chats", domain, me)
        start = decode_cursor(cursor, "gsi1pk", keys.user_chats_gsi1pk(domain, me), scope=scope)
        entries, last = self._chats.page_of_user(domain, me, limit, start)
        now = self._clock.now()
        entries = [e for e in entries if not expired(e.expires_at, now)]  # TTL may lag by days
        others = {u.id: u for u in self._users.get_many(domain, [e.other_id for e in entries])}
        chats = [
            ChatSummary(others[e.other_id], e.last_message_at)
            for e in entries
            if e.other_id in others and not others[e.other_id].deletion_requested
        ]
        return chats, encode_cursor(last, scope=scope)

    def list_chat(self, principal: Principal, user_id: str, limit: int, cursor: str | None) -> Messages:
        other = self._chat_partner(principal, user_id)
        return self._page(Conversation.of_chat(principal.domain, principal.user.id, other.id), limit, cursor)

    def _chat_partner(self, principal: Principal, user_id: str) -> User:
        if user_id == principal.user.id:
            raise BadRequest(
                "A private chat is with another user, not with yourself.", "cannot_chat_with_yourself"
            )
        other = self._users.get(principal.domain, user_id) if ids.is_id(user_id) else None
        if other is None or other.deletion_requested:
            raise NotFound("There is no such user in this domain.", "user_not_found")
        return other

    # --- shared ------------------------------------------------------------------------------

    def _compose(
        self, principal: Principal, conversation: Conversation, new: NewMessage
    ) -> tuple[Message, list[File], list[File]]:
        """The message, the files it carries, and those it is the first to carry (pending until
        now: their objects have just lost the pending tag, after every check of the message and
        before its transaction, FileService.attach)."""
        file_ids = check_file_ids(new.file_ids)
        text = check_text(new.text, bool(file_ids))
        files = self._file_service.attachable(principal, file_ids)
        now = self._clock.now()
        message = Message(
            id=ids.new_id(int(now.timestamp() * 1000)),
            conversation=conversation,
            author_id=principal.user.id,
            text=text,
            file_ids=tuple(f.id for f in files),
            created_at=now,
            expires_at=principal.retention.expires_at(now),
        )
        return message, files, self._file_service.attach(principal, files)

    def _commit(self, tx: Transaction, message: Message, attached: list[File]) -> None:
        tx.add(self._messages.create_op(message))
        tx.add(*self._files.attachment_ops(message))
        for file in attached:  # no longer pending: the record's ttl becomes the domain's, or none
            gone = InvalidField("file_ids", f"{file.id!r} is not a file you uploaded", "invalid_file")
            tx.add(self._files.attached_op(file), on_condition_failed=gone)
        tx.commit()

    def _page(self, conversation: Conversation, limit: int, cursor: str | None) -> Messages:
        # Bound to the conversation (its partition names the group, or a chat's two users).
        partition = messages_pk(conversation)
        scope = cursor_scope("messages", conversation.domain, partition)
        start = decode_cursor(cursor, "pk", partition, scope=scope)
        items, last = self._messages.page(conversation, limit, start)
        live = [m for m in items if not expired(m.expires_at, self._clock.now())]
        if len(live) < len(items):  # newest first: past the first expired one, all are
            items, last = live, None
        author_ids = list(dict.fromkeys(m.author_id for m in items if m.via is None))
        authors = (
            {u.id: u for u in self._users.get_many(conversation.domain, author_ids)} if author_ids else {}
        )
        file_ids = list(dict.fromkeys(f for m in items for f in m.file_ids))
        files = self._files.get_many(conversation.domain, file_ids) if file_ids else {}
        files = {i: f for i, f in files.items() if not expired(f.expires_at, self._clock.now())}
        return Messages(items, authors, files, encode_cursor(last, scope=scope))
