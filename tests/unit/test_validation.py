import pytest

from chalicelib.api.validation import Body, Query, parse_json_object
from chalicelib.core.errors import BadRequest, InvalidField
from chalicelib.domain.models import Plan


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
        parse_json_object(raw)
    assert caught.value.code == code
    assert caught.value.status == 400


def test_string_fields_are_trimmed_and_checked() -> None:
    body = Body({"name": "  Ann ", "empty": "   ", "number": 3, "long": "x" * 11})
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
    assert Body({"password": "  spaced  "}).secret("password") == "  spaced  "


def test_nested_objects_prefix_the_field_name() -> None:
    body = Body({"admin": {"email": 5}, "flat": "x"})
    with pytest.raises(InvalidField, match=r"admin\.email: must be a string"):
        body.object("admin").string("email")
    with pytest.raises(InvalidField, match="flat: must be an object, not a string"):
        body.object("flat")


def test_enums_list_the_allowed_values() -> None:
    body = Body({"plan": "gold", "other": 1})
    with pytest.raises(InvalidField, match="plan: must be one of business, enterprise, not 'gold'") as caught:
        body.choice("plan", Plan)
    assert caught.value.code == "invalid_enum"
    with pytest.raises(InvalidField, match="other: must be one of"):
        body.choice("other", Plan)
    assert Body({}).choice("plan", Plan, default=Plan.BUSINESS) is Plan.BUSINESS


def test_integers_and_booleans_are_strict() -> None:
    body = Body({"seats": True, "many": 10**9, "flag": "yes", "ok": 5})
    with pytest.raises(InvalidField, match="seats: must be a whole number, not a boolean"):
        body.integer("seats", minimum=1, maximum=10)
    with pytest.raises(InvalidField, match="many: must be between 1 and 10"):
        body.integer("many", minimum=1, maximum=10)
    with pytest.raises(InvalidField, match="flag: must be true or false, not a string"):
        body.boolean("flag")
    assert body.integer("ok", minimum=1, maximum=10) == 5
    assert body.integer("absent", minimum=1, maximum=10, required=False) is None
    assert Body({}).boolean("hipaa", default=False) is False


@pytest.mark.parametrize("raw", ["0", "201", "-1", "ten", "1.5", "²", "١٢"])
def test_list_limits_outside_one_to_two_hundred_are_refused(raw: str) -> None:
    with pytest.raises(InvalidField, match="limit"):
        Query({"limit": raw}).limit()


def test_list_limit_defaults_to_fifty() -> None:
    assert Query(None).limit() == 50
    assert Query({"limit": "200"}).limit() == 200
    assert Query({"cursor": ""}).cursor() is None
