"""The pure rules of groups, messages and files (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.core.errors import InvalidField, PayloadTooLarge
from chalicelib.domain.models import Conversation, ConversationKind, Group, GroupRole, Membership
from chalicelib.repositories import keys
from chalicelib.repositories.files import object_key, safe_filename
from chalicelib.repositories.messages import container, messages_pk
from chalicelib.services.files import can_see, check_content_type, check_file_ids, check_size
from chalicelib.services.groups import GroupAccess
from chalicelib.services.messages import MAX_TEXT, check_text

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("Q3 résumé (final).pdf", "Q3_resume_final_.pdf"),
        ("../../etc/passwd", "etc_passwd"),
        ("..", "file"),
        ("日本語", "file"),
        ("a\x00b.txt", "a_b.txt"),
        ("x" * 300 + ".docx", "x" * 95 + ".docx"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert safe_filename(name) == safe
    assert len(safe_filename(name)) <= 100


def test_object_keys_are_scoped_by_domain_and_file() -> None:
    assert object_key("acme", "f1", "a b.txt") == "files/acme/f1/a_b.txt"


@pytest.mark.parametrize(
    "value",
    ["image/png", "application/vnd.ms-excel", "text/plain; charset=utf-8", 'multipart/mixed; boundary="a b"'],
)
def test_media_types_accepted(value: str) -> None:
    assert check_content_type(value) == value


@pytest.mark.parametrize(
    "value", ["png", "text/", "/plain", "text/plain\nX: y", "text/plain; charset", "a/" + "b" * 199]
)
def test_media_types_refused(value: str) -> None:
    with pytest.raises(InvalidField) as error:
        check_content_type(value)
    assert error.value.code == "invalid_content_type"


def test_size_cap() -> None:
    assert check_size(100, 100) == 100
    with pytest.raises(PayloadTooLarge):
        check_size(101, 100)


def test_file_ids_are_deduplicated_then_capped() -> None:
    assert check_file_ids(["a", "b", "a"]) == ["a", "b"]
    assert len(check_file_ids([str(n) for n in range(10)] * 2)) == 10
    with pytest.raises(InvalidField) as error:
        check_file_ids([str(n) for n in range(11)])
    assert error.value.code == "too_many_files"


def test_message_text() -> None:
    assert check_text("x" * MAX_TEXT, has_files=False) == "x" * MAX_TEXT
    assert check_text("", has_files=True) == ""
    with pytest.raises(InvalidField) as too_long:
        check_text("x" * (MAX_TEXT + 1), has_files=True)
    assert too_long.value.code == "text_too_long"
    with pytest.raises(InvalidField) as empty:
        check_text("", has_files=False)
    assert empty.value.code == "missing_field"


def test_a_chat_is_named_by_its_sorted_users() -> None:
    assert Conversation.of_chat("acme", "b", "a") == Conversation.of_chat("acme", "a", "b")
    chat = Conversation.of_chat("acme", "b", "a")
    assert chat.kind is ConversationKind.CHAT and chat.user_ids == ("a", "b")
    assert messages_pk(chat) == "D#acme#C#a#b#MSGS" == keys.chat_messages_pk("acme", "b", "a")
    assert container(chat) == "C#a#b"
    group = Conversation.of_group("acme", "g1")
    assert (messages_pk(group), container(group)) == ("D#acme#G#g1#MSGS", "G#g1")


def test_who_can_see_a_conversation() -> None:
    chat, group = Conversation.of_chat("acme", "a", "b"), Conversation.of_group("acme", "g1")
    assert can_see(chat, "a", set()) and can_see(chat, "b", set()) and not can_see(chat, "c", {"g1"})
    assert can_see(group, "c", {"g1"}) and not can_see(group, "c", {"g2"})


def test_who_manages_a_group() -> None:
    group = Group("g1", "acme", "G", "", "u1", False, NOW)
    admin = Membership("g1", "u1", GroupRole.ADMIN, NOW)
    member = Membership("g1", "u2", GroupRole.MEMBER, NOW)
    assert GroupAccess(group, admin, domain_admin=False).can_manage
    assert not GroupAccess(group, member, domain_admin=False).can_manage
    assert GroupAccess(group, member, domain_admin=True).can_manage
    assert GroupAccess(group, None, domain_admin=True).can_manage
    assert not GroupAccess(group, None, domain_admin=True).is_group_admin
