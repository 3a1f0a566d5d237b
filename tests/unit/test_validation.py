from typing import Any

import pytest

from chalicelib.api.validation import Body, Query, parse_json_object, refuse_body
from chalicelib.core.errors import BadRequest, InvalidField
from chalicelib.domain.models import Plan


def taking(data: dict[str, Any], *more: str) -> Body:
    """A body whose call takes exactly the fields sent, and `more`."""
    return Body(data, (*data, *more))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "invalid_json"),
        (b"{nope", "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b'"text"', "invalid_body"),
        (b"[" * 100_000, "invalid_json"),
        (b"null", "invalid_body"),
        (b"\xff\xfe", "invalid_json"),
    ],
)
def test_bodies_that_are_not_json_objects(raw: bytes, code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_object(raw, accepts=("domain",))
    assert caught.value.code == code
    assert caught.value.status == 400


def test_string_fields_are_trimmed_and_checked() -> None:
    body = taking({"name": "  Ann ", "empty": "   ", "number": 3, "long": "x" * 11}, "missing")
    assert body.string("name") == "Ann"
    with pytest.raises(InvalidField, match="empty: must not be empty"):
        body.string("empty")
    with pytest.raises(InvalidField, match="number: must be a string, not a number"):
        body.string("number")
    with pytest.raises(InvalidField, match="long: must be at most 10 characters"):
        body.string("long", max_length=10)
    with pytest.raises(InvalidField, match="missing: is required") as caught:
        body.string("missing")
    assert caught.value.code == "missing_field"
    assert body.string("missing", required=False) is None


def test_secrets_keep_their_spaces() -> None:
    assert taking({"password": "  spaced  "}).secret("password") == "  spaced  "


def test_nested_objects_prefix_the_field_name() -> None:
    body = taking({"admin": {"email": 5}, "flat": "x"})
    with pytest.raises(InvalidField, match=r"admin\.email: must be a string"):
        body.object("admin", accepts=("email",)).string("email")
    with pytest.raises(InvalidField, match="flat: must be an object, not a string"):
        body.object("flat", accepts=("email",))


def test_enums_list_the_allowed_values() -> None:
    body = taking({"plan": "gold", "other": 1})
    with pytest.raises(InvalidField, match="plan: must be one of business, enterprise, not 'gold'") as caught:
        body.choice("plan", Plan)
    assert caught.value.code == "invalid_enum"
    with pytest.raises(InvalidField, match="other: must be one of"):
        body.choice("other", Plan)
    assert Body({}, ("plan",)).choice("plan", Plan, default=Plan.BUSINESS) is Plan.BUSINESS


def test_integers_and_booleans_are_strict() -> None:
    body = taking({"seats": True, "many": 10**9, "flag": "yes", "ok": 5}, "absent")
    with pytest.raises(InvalidField, match="seats: must be a whole number, not a boolean"):
        body.integer("seats", minimum=1, maximum=10)
    with pytest.raises(InvalidField, match="many: must be between 1 and 10"):
        body.integer("many", minimum=1, maximum=10)
    with pytest.raises(InvalidField, match="flag: must be true or false, not a string"):
        body.boolean("flag")
    assert body.integer("ok", minimum=1, maximum=10) == 5
    assert body.integer("absent", minimum=1, maximum=10, required=False) is None
    assert Body({}, ("hipaa",)).boolean("hipaa", default=False) is False


@pytest.mark.parametrize("raw", ["0", "201", "-1", "ten", "1.5", "²", "١٢"])
def test_list_limits_outside_one_to_two_hundred_are_refused(raw: str) -> None:
    with pytest.raises(InvalidField, match="limit"):
        Query({"limit": raw}).limit()


def test_list_limit_defaults_to_fifty() -> None:
    assert Query(None).limit() == 50
    assert Query({"limit": "200"}).limit() == 200
    assert Query({"cursor": ""}).cursor() is None


# --- strict bodies (API.md §0) ----------------------------------------------------------------


def test_a_field_the_call_does_not_take_is_named() -> None:
    raw = b'{"email": "jo@acme.example", "sendinvite": true}'
    with pytest.raises(InvalidField) as caught:
        parse_json_object(raw, accepts=("email", "first_name", "send_invite"))
    assert caught.value.code == "unknown_field" and caught.value.status == 400
    assert caught.value.message == (
        "sendinvite: is not a field this call takes (it takes: email, first_name, send_invite)"
    )


def test_several_unknown_fields_are_named_in_sorted_order() -> None:
    with pytest.raises(InvalidField) as caught:
        Body({"zeta": 1, "email": "x", "alpha": None}, ("email",))
    assert caught.value.message == "alpha, zeta: are not fields this call takes (it takes: email)"


def test_many_or_long_unknown_fields_are_named_in_a_bounded_message() -> None:
    data = {f"f{i:03}": i for i in range(500)} | {"x" * 5000: 1}
    with pytest.raises(InvalidField) as caught:
        Body(data, ())
    message = caught.value.message
    assert message.startswith("f000, f001, ") and "and 491 more" in message and len(message) < 400


def test_a_nested_object_names_its_unknown_field_dotted() -> None:
    body = Body({"admin": {"emial": "a@b.example", "email": "a@b.example"}}, ("admin",))
    with pytest.raises(InvalidField) as caught:
        body.object("admin", accepts=("email", "password"))
    assert caught.value.code == "unknown_field"
    assert (
        caught.value.message == "admin.emial: is not a field this call takes (admin takes: email, password)"
    )


def test_a_call_that_takes_no_body_takes_nothing_or_an_empty_object() -> None:
    for raw in (None, b"", b"  \n", b"{}", b" { } "):
        refuse_body(raw)
    with pytest.raises(InvalidField) as caught:
        refuse_body(b'{"reason": "left"}')
    assert caught.value.code == "unknown_field"
    assert caught.value.message == "reason: is not a field this call takes (it takes no body)"
    for raw, code in ((b"{nope", "invalid_json"), (b"[]", "invalid_body"), (b"null", "invalid_body")):
        with pytest.raises(BadRequest) as refused:
            refuse_body(raw)
        assert refused.value.code == code


def test_reading_a_field_that_was_not_declared_is_a_programming_error() -> None:
    body = Body({}, ("email",))
    with pytest.raises(RuntimeError, match="emial is read but not declared"):
        body.string("emial", required=False)
    with pytest.raises(RuntimeError):
        body.has("role")
    with pytest.raises(TypeError):
        Body({}, "email")
