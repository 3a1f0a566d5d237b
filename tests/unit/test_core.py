import base64
from decimal import Decimal

import pytest

from chalicelib.core import ids
from chalicelib.core.cursors import decode_cursor, encode_cursor
from chalicelib.core.errors import InvalidField
from chalicelib.repositories.dynamo import from_raw, to_raw
from chalicelib.services import tokens


def test_ids_are_unique_and_sort_by_creation_time() -> None:
    earlier = ids.new_id(now_ms=1_700_000_000_000)
    later = ids.new_id(now_ms=1_700_000_000_001)
    assert earlier < later
    assert len({ids.new_id() for _ in range(1000)}) == 1000
    assert ids.is_id(earlier) and not ids.is_id("not-an-id")


def test_cursor_round_trip_within_its_partition() -> None:
    key = {"pk": {"S": "D#acme#AUDIT"}, "sk": {"S": "2026-11-24T12:00:00.000Z#x"}}
    cursor = encode_cursor(key)
    assert cursor is not None and "=" not in cursor
    assert decode_cursor(cursor, "pk", "D#acme#AUDIT") == key
    assert encode_cursor(None) is None and decode_cursor(None, "pk", "x") is None


def test_cursor_of_another_partition_is_refused() -> None:
    cursor = encode_cursor({"pk": {"S": "D#other#AUDIT"}, "sk": {"S": "x"}})
    with pytest.raises(InvalidField) as caught:
        decode_cursor(cursor, "pk", "D#acme#AUDIT")
    assert caught.value.code == "invalid_cursor"


DEEP = base64.urlsafe_b64encode(b"[" * 50_000).decode()


@pytest.mark.parametrize("cursor", ["garbage!", "e30", "bm90IGpzb24", "W10", DEEP])
def test_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidField):
        decode_cursor(cursor, "pk", "D#acme#AUDIT")


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
