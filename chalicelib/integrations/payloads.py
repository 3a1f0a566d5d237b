"""Reading what an outside service sends us (Slack's forms and JSON, MailChimp's forms) strictly:
every problem raises the service's own payload error (a ValueError), naming what is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl


class PayloadReader:
    def __init__(self, error: type[ValueError], max_bytes: int, max_form_fields: int) -> None:
        self._error = error
        self._max_bytes = max_bytes
        self._max_form_fields = max_form_fields

    def form(self, body: bytes) -> dict[str, str]:
        """An application/x-www-form-urlencoded body: UTF-8, each field once."""
        self._check_size(body)
        try:
            pairs = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                strict_parsing=True,
                errors="strict",
                max_num_fields=self._max_form_fields,
            )
        except ValueError as err:  # bad UTF-8 (raw or %-encoded), a field without `=`, too many fields
            raise self._error(f"the body is not a form: {err}") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise self._error(f"{name} appears more than once")
            form[name] = value
        return form

    def json_object(self, body: bytes) -> dict[str, Any]:
        self._check_size(body)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 and bad JSON are ValueErrors; deep nesting
            raise self._error("the body is not JSON") from None
        if not isinstance(payload, dict):
            raise self._error("the body is not a JSON object")
        return payload

    def optional_string(self, data: Mapping[str, Any], key: str, *, at: str = "") -> str | None:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise self._error(f"{at}{key} must be a string")
        return value

    def required_string(self, data: Mapping[str, Any], key: str, *, at: str = "") -> str:
        value = self.optional_string(data, key, at=at)
        if not value:
            raise self._error(f"{at}{key} is missing")
        return value

    def optional_integer(self, data: Mapping[str, Any], key: str, *, at: str = "") -> int | None:
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise self._error(f"{at}{key} must be an integer")
        return value

    def optional_object(self, data: Mapping[str, Any], key: str, *, at: str = "") -> Mapping[str, Any] | None:
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            raise self._error(f"{at}{key} must be an object")
        return value

    def required_object(self, data: Mapping[str, Any], key: str, *, at: str = "") -> Mapping[str, Any]:
        value = self.optional_object(data, key, at=at)
        if value is None:
            raise self._error(f"{at}{key} is missing")
        return value

    def _check_size(self, body: bytes) -> None:
        if len(body) > self._max_bytes:
            raise self._error(f"the body is larger than {self._max_bytes} bytes")
