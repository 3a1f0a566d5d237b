"""Reading request bodies and query strings into typed values, with 400s that name the field.

Bodies are read strictly (API.md §0): whoever reads a body declares the fields it takes
(`parse_json_object(raw, accepts=...)`, `Body.object(field, accepts=...)`), and any other field
answers 400 `unknown_field` naming it, so that a misspelt `sendinvite` is refused instead of
silently doing nothing. A call that takes no body is read with `refuse_body`: nothing, or `{}`.
Reading a field that was not declared is a programming error (RuntimeError), so a declaration
cannot drift from what its view reads. Declared fields are checked for presence, type, range
and enum membership."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from chalicelib.core.errors import BadRequest, InvalidField

E = TypeVar("E", bound=StrEnum)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_STRING = 1000
_MISSING = object()
# An unknown field's name is quoted in the answer: at most this many of them, this long each.
_NAMED_UNKNOWN = 10
_NAME_SHOWN = 100


def parse_json_object(raw: bytes | None, *, accepts: Collection[str]) -> Body:
    """The body of a call that takes the fields `accepts` (any other answers `unknown_field`)."""
    return Body(_json_object(raw), accepts)


def refuse_body(raw: bytes | None) -> None:
    """The body of a call that takes none: nothing (or only whitespace) or `{}`; a JSON object
    with any field answers `unknown_field`, anything else as `parse_json_object` does."""
    if raw is None or not raw.strip():
        return
    Body(_json_object(raw), ())


def _json_object(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        raise BadRequest("The body must be a JSON object; it is empty.", "invalid_json")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"The body is not valid JSON ({error}).", "invalid_json") from None
    except RecursionError:
        raise BadRequest("The body nests too deeply to be read.", "invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest(f"The body must be a JSON object, not {_json_type(data)}.", "invalid_body")
    if not _encodable(data):
        raise BadRequest(
            "The body holds a string that is not valid Unicode (lone surrogate).", "invalid_json"
        )
    return data


def _encodable(value: Any) -> bool:
    """JSON's \\u escapes can name half a surrogate pair, which no store or hash can take."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


class Body:
    """A JSON object being read, that takes the fields `accepts` and no other (400
    `unknown_field`, checked at once); nested objects keep a dotted prefix for error messages."""

    def __init__(self, data: Mapping[str, Any], accepts: Collection[str], prefix: str = "") -> None:
        if isinstance(accepts, str):  # accepts="email" would take the fields e, m, a, i, l
            raise TypeError("accepts is a collection of field names, not one string")
        self._data = data
        self._accepts = tuple(accepts)
        self._prefix = prefix
        unknown = sorted(field for field in data if field not in self._accepts)
        if unknown:
            raise _unknown_fields([self._name(field) for field in unknown], self._accepts, prefix)

    def has(self, field: str) -> bool:
        """Whether the field was sent with a value (null counts as absent)."""
        self._check_declared(field)
        return self._data.get(field) is not None

    def _name(self, field: str) -> str:
        return f"{self._prefix}{field}"

    def _check_declared(self, field: str) -> None:
        if field not in self._accepts:
            raise RuntimeError(f"{self._name(field)} is read but not declared in accepts={self._accepts}")

    def _get(self, field: str, required: bool) -> Any:
        self._check_declared(field)
        value = self._data.get(field, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise InvalidField(self._name(field), "is required", "missing_field")
            return _MISSING
        return value

    def string(
        self, field: str, *, required: bool = True, max_length: int = MAX_STRING, allow_empty: bool = False
    ) -> str | None:
        value = self._get(field, required)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise InvalidField(self._name(field), f"must be a string, not {_json_type(value)}")
        value = value.strip()
        if not value and not allow_empty:
            if required:
                raise InvalidField(self._name(field), "must not be empty", "missing_field")
            return None
        if len(value) > max_length:
            raise InvalidField(self._name(field), f"must be at most {max_length} characters")
        return value

    def required_string(self, field: str, *, max_length: int = MAX_STRING) -> str:
        value = self.string(field, required=True, max_length=max_length)
        assert value is not None
        return value

    def secret(self, field: str, *, max_length: int = 1024) -> str:
        """A string taken as sent (passwords: spaces count), required and non-empty."""
        value = self._get(field, True)
        if not isinstance(value, str):
            raise InvalidField(self._name(field), f"must be a string, not {_json_type(value)}")
        if not value:
            raise InvalidField(self._name(field), "must not be empty", "missing_field")
        if len(value) > max_length:
            raise InvalidField(self._name(field), f"must be at most {max_length} characters")
        return value

    def boolean(self, field: str, *, default: bool | None = None) -> bool:
        value = self._get(field, default is None)
        if value is _MISSING:
            assert default is not None
            return default
        if not isinstance(value, bool):
            raise InvalidField(self._name(field), f"must be true or false, not {_json_type(value)}")
        return value

    def optional_boolean(self, field: str) -> bool | None:
        """A boolean the body may leave out (None then): a PATCH's field."""
        return self.boolean(field, default=False) if self.has(field) else None

    def optional_choice(self, field: str, enum: type[E]) -> E | None:
        return self.choice(field, enum) if self.has(field) else None

    def integer(self, field: str, *, minimum: int, maximum: int, required: bool = True) -> int | None:
        value = self._get(field, required)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(self._name(field), f"must be a whole number, not {_json_type(value)}")
        if not minimum <= value <= maximum:
            raise InvalidField(self._name(field), f"must be between {minimum} and {maximum}")
        return value

    def choice(self, field: str, enum: type[E], *, default: E | None = None) -> E:
        value = self._get(field, default is None)
        if value is _MISSING:
            assert default is not None
            return default
        allowed = ", ".join(e.value for e in enum)
        if not isinstance(value, str):
            raise InvalidField(self._name(field), f"must be one of {allowed}")
        try:
            return enum(value)
        except ValueError:
            raise InvalidField(
                self._name(field), f"must be one of {allowed}, not {value!r}", "invalid_enum"
            ) from None

    def string_list(self, field: str, *, max_items: int, max_length: int = 100) -> list[str]:
        """A list of non-empty strings (ids); absent or null is an empty list."""
        value = self._get(field, False)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            raise InvalidField(self._name(field), f"must be a list of strings, not {_json_type(value)}")
        if len(value) > max_items:
            raise InvalidField(self._name(field), f"must hold at most {max_items} items", "too_many_items")
        if not all(isinstance(v, str) and 0 < len(v) <= max_length for v in value):
            raise InvalidField(self._name(field), f"must hold strings of 1 to {max_length} characters")
        return value

    def object(self, field: str, *, accepts: Collection[str]) -> Body:
        """A nested object, that takes the fields `accepts` (its unknown ones named dotted)."""
        value = self._get(field, True)
        if not isinstance(value, dict):
            raise InvalidField(self._name(field), f"must be an object, not {_json_type(value)}")
        return Body(value, accepts, prefix=f"{self._name(field)}.")


def _unknown_fields(names: list[str], accepts: tuple[str, ...], prefix: str) -> InvalidField:
    """400 `unknown_field` naming the fields (sorted; the first ten, each cut at 100 characters)
    and the ones the call takes."""
    shown = [n if len(n) <= _NAME_SHOWN else f"{n[:_NAME_SHOWN]}…" for n in names[:_NAMED_UNKNOWN]]
    field = ", ".join(shown)
    if len(names) > _NAMED_UNKNOWN:
        field += f" and {len(names) - _NAMED_UNKNOWN} more"
    verb = "is not a field" if len(names) == 1 else "are not fields"
    if not accepts:
        takes = f"{prefix[:-1]} takes no field" if prefix else "it takes no body"
    else:
        takes = f"{prefix[:-1] if prefix else 'it'} takes: {', '.join(accepts)}"
    return InvalidField(field, f"{verb} this call takes ({takes})", "unknown_field")


class Query:
    """Query-string parameters (API Gateway hands them over as a dict of strings)."""

    def __init__(self, params: Mapping[str, str] | None) -> None:
        self._params = params or {}

    def limit(self) -> int:
        raw = self._params.get("limit")
        if raw is None or raw == "":
            return DEFAULT_LIMIT
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
            raise InvalidField("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
        return int(raw)

    def cursor(self) -> str | None:
        return self._params.get("cursor") or None

    def text(self, name: str, max_length: int = 200) -> str:
        value = self._params.get(name, "")
        if len(value) > max_length:
            raise InvalidField(name, f"must be at most {max_length} characters")
        return value

    def choice(self, name: str, enum: type[E]) -> E | None:
        value = self._params.get(name)
        if not value:
            return None
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise InvalidField(name, f"must be one of {allowed}, not {value!r}", "invalid_enum") from None

    def flag(self, name: str) -> bool:
        value = self._params.get(name, "").lower()
        if value in ("", "false", "0"):
            return False
        if value in ("true", "1"):
            return True
        raise InvalidField(name, "must be true or false")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
