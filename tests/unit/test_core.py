import base64
import json
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.core import ids
from chalicelib.core.config import reset_settings
from chalicelib.core.cursors import CursorKeyMissing, cursor_scope, decode_cursor, encode_cursor
from chalicelib.core.errors import InvalidField
from chalicelib.repositories.dynamo import from_raw, to_raw
from chalicelib.services import tokens


def test_ids_are_unique_and_sort_by_creation_time() -> None:
    earlier = ids.new_id(now_ms=1_700_000_000_000)
    later = ids.new_id(now_ms=1_700_000_000_001)
    assert earlier < later
    assert len({ids.new_id() for _ in range(1000)}) == 1000
    assert ids.is_id(earlier) and not ids.is_id("not-an-id")


AUDIT = "D#acme#AUDIT"
SCOPE = cursor_scope("admin_audit", "acme")
KEY = {"pk": {"S": AUDIT}, "sk": {"S": "2026-11-24T12:00:00.000Z#x"}}


def test_cursor_round_trip_within_its_partition_and_scope(settings_env: None) -> None:
    cursor = encode_cursor(KEY, scope=SCOPE)
    assert cursor is not None and "=" not in cursor
    assert decode_cursor(cursor, "pk", AUDIT, scope=SCOPE) == KEY
    assert encode_cursor(None, scope=SCOPE) is None
    assert decode_cursor(None, "pk", "x", scope=SCOPE) is None
    assert decode_cursor("", "pk", "x", scope=SCOPE) is None


def _refused(cursor: str | None, scope: str = SCOPE, partition: str = AUDIT) -> None:
    assert cursor is not None
    with pytest.raises(InvalidField) as caught:
        decode_cursor(cursor, "pk", partition, scope=scope)
    assert caught.value.code == "invalid_cursor" and caught.value.field == "cursor"


def test_a_cursor_of_another_scope_is_refused(settings_env: None) -> None:
    cursor = encode_cursor(KEY, scope=SCOPE)
    _refused(cursor, scope=cursor_scope("admin_audit", "globex"))
    _refused(cursor, scope=cursor_scope("admin_users", "acme"))
    users = encode_cursor(KEY, scope=cursor_scope("admin_users", "acme", status="active", q=""))
    _refused(users, scope=cursor_scope("admin_users", "acme", status="invited", q=""))
    _refused(users, scope=cursor_scope("admin_users", "acme", status="active", q="bo"))


def test_a_tampered_cursor_is_refused(settings_env: None) -> None:
    cursor = encode_cursor(KEY, scope=SCOPE)
    assert cursor is not None
    payload, tag = cursor.split(".")
    other_key = {"pk": {"S": AUDIT}, "sk": {"S": "2026-11-24T12:00:00.000Z#y"}}
    other_payload = base64.urlsafe_b64encode(json.dumps(other_key).encode()).decode().rstrip("=")
    _refused(f"{other_payload}.{tag}")  # another key under the old tag
    flipped = tag[:-2] + ("A" if tag[-2] != "A" else "B") + tag[-1]
    _refused(f"{payload}.{flipped}")  # the tag changed
    _refused(payload)  # no tag (the cursors of before)
    _refused(f"{payload}.{tag}x")
    _refused(f"{payload}x.{tag}")


def test_a_cursor_signed_with_another_key_is_refused(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    cursor = encode_cursor(KEY, scope=SCOPE)
    monkeypatch.setenv("OC_CURSOR_KEY", "another-cursor-key-0123456789abcdef")
    reset_settings()
    _refused(cursor)
    assert decode_cursor(encode_cursor(KEY, scope=SCOPE), "pk", AUDIT, scope=SCOPE) == KEY


def test_a_signed_cursor_of_another_partition_is_still_refused(settings_env: None) -> None:
    cursor = encode_cursor({"pk": {"S": "D#other#AUDIT"}, "sk": {"S": "x"}}, scope=SCOPE)
    _refused(cursor)  # the second line of defence, should the HMAC key leak


@pytest.mark.parametrize(
    "key",
    [
        {"pk": {"S": AUDIT}},
        {"pk": {"S": AUDIT}, "sk": {"N": "5"}},
        {"pk": {"S": AUDIT}, "sk": {"S": "x"}, "extra": {"S": "y"}},
        {"pk": {"S": AUDIT}, "sk": {"S": "x" * 1025}},
        {"pk": {"S": AUDIT}, "sk": {"S": ""}},
    ],
)
def test_a_signed_cursor_must_hold_a_whole_key_within_dynamodb_sizes(
    settings_env: None, key: dict[str, Any]
) -> None:
    _refused(encode_cursor(key, scope=SCOPE))


def test_no_cursor_without_a_key_of_sixteen_characters(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for value in ("", "too-short"):
        monkeypatch.setenv("OC_CURSOR_KEY", value)
        reset_settings()
        with pytest.raises(CursorKeyMissing):
            encode_cursor(KEY, scope=SCOPE)
        with pytest.raises(CursorKeyMissing):
            decode_cursor("abc." + "A" * 43, "pk", AUDIT, scope=SCOPE)


def test_scopes_cannot_pass_for_one_another() -> None:
    assert cursor_scope("l", "acme", q="a|status=x") != cursor_scope("l", "acme", q="a", status="x")
    assert cursor_scope("l", "acme", a=None) != cursor_scope("l", "acme", a="None")
    assert cursor_scope("l", "acme", a=1, b=2) == cursor_scope("l", "acme", b=2, a=1)


DEEP = base64.urlsafe_b64encode(b"[" * 50_000).decode()


@pytest.mark.parametrize(
    "cursor", ["garbage!", "e30", "bm90IGpzb24", "W10", DEEP, f"{DEEP}.{'A' * 43}", "é." + "A" * 43]
)
def test_forged_cursors_are_refused(settings_env: None, cursor: str) -> None:
    _refused(cursor)


def test_items_round_trip_through_dynamodb_types() -> None:
    item = {
        "s": "x",
        "i": 3,
        "f": 1.5,
        "b": True,
        "m": {"n": [1, "a", None]},
        "ss": {"a", "b"},
        "d": Decimal("2"),
        "gone": None,
    }
    raw = to_raw(item)
    assert "gone" not in raw
    assert raw["i"] == {"N": "3"} and raw["b"] == {"BOOL": True}
    assert from_raw(raw) == {
        "s": "x",
        "i": 3,
        "f": 1.5,
        "b": True,
        "m": {"n": [1, "a", None]},
        "ss": {"a", "b"},
        "d": 2,
    }


def test_tokens_name_their_domain_and_user_and_hash_whole() -> None:
    user_id = ids.new_id()
    token = tokens.new_token("acme", user_id)
    parsed = tokens.parse_token(token)
    assert parsed is not None
    assert (parsed.domain, parsed.user_id) == ("acme", user_id)
    assert parsed.token_hash == tokens.hash_token(token) and len(parsed.token_hash) == 64
    secret = token.split(".")[2]
    assert len(secret) >= 43  # 32 random bytes
    forged = tokens.parse_token(f"other.{user_id}.{secret}")
    assert forged is not None and forged.token_hash != parsed.token_hash


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "acme.x.y",
        "Acme.01m8a7cynkbvze55jkdypexhtp." + "a" * 43,
        "acme.01m8a7cynkbvze55jkdypexhtp.short",
        "a.b.c.d",
    ],
)
def test_malformed_tokens_do_not_parse(token: str) -> None:
    assert tokens.parse_token(token) is None


def test_password_hashes_verify_and_unknown_accounts_never_match() -> None:
    from chalicelib.services.passwords import PasswordHasher

    hasher = PasswordHasher()
    stored = hasher.hash("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse battery staple")
    assert not hasher.verify(stored, "wrong horse battery staple")
    assert not hasher.verify(None, "correct horse battery staple")
    assert not hasher.verify("not a hash", "x")


def test_derived_ids_are_ids_the_same_for_the_same_seed() -> None:
    from chalicelib.core import ids

    first = ids.derived_id("acme/import/2", 1_700_000_000_000)
    assert ids.is_id(first) and first == ids.derived_id("acme/import/2", 1_700_000_000_000)
    assert first != ids.derived_id("acme/import/3", 1_700_000_000_000)
    assert first[:10] == ids.new_id(1_700_000_000_000)[:10]  # the same time prefix: sorts by age
