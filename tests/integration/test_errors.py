"""Every error a caller can cause answers the contract's body; nothing leaks a stack trace."""

from dataclasses import replace
from typing import Any

import pytest

from chalicelib.bootstrap import Services, services, use_services
from chalicelib.core.config import MAX_BODY_BYTES
from tests.conftest import PLATFORM_KEY, Api, error_of


def test_wrong_method_on_a_known_path(api: Api) -> None:
    response = api.call("DELETE", "/me")
    assert error_of(response) == (405, "method_not_allowed")
    assert response.headers["Allow"] == "GET"


def test_body_that_is_not_json(api: Api) -> None:
    response = api.call("POST", "/auth/login", "{not json")
    assert error_of(response) == (400, "invalid_json")
    response = api.call("POST", "/auth/login", "[]")
    assert error_of(response) == (400, "invalid_body")
    response = api.call("POST", "/auth/login", "")
    assert error_of(response) == (400, "invalid_json")


def test_body_that_is_not_declared_json(api: Api) -> None:
    response = api.call("POST", "/auth/login", "{}", headers={"Content-Type": "text/plain"})
    assert error_of(response) == (415, "unsupported_media_type")


def test_body_over_one_megabyte(api: Api) -> None:
    huge = '{"domain": "' + "x" * MAX_BODY_BYTES + '"}'
    response = api.call("POST", "/platform/domains", huge, headers={"X-Platform-Key": PLATFORM_KEY})
    assert error_of(response) == (413, "payload_too_large")


class Exploding:
    def provision(self, request: Any) -> Any:
        raise RuntimeError("secret internals /var/task/chalicelib/x.py line 3")

    def check_key(self, presented: str | None) -> None:
        return None


def test_unexpected_errors_answer_a_generic_500_with_a_request_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    current: Services = services()
    use_services(replace(current, platform=Exploding()))  # type: ignore[arg-type]
    response = api.provision("acme")
    assert error_of(response) == (500, "internal_error")
    request_id = response.headers["X-Request-Id"]
    assert request_id in response.json_body["error"]["message"]
    assert "secret internals" not in response.body.decode() and "Traceback" not in response.body.decode()
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert logged and logged[-1].exc_info is not None


def test_every_answer_carries_a_request_id(api: Api) -> None:
    ok = api.call("GET", "/health")
    assert ok.json_body == {"status": "ok"}
    assert ok.headers["X-Request-Id"]
    assert api.call("GET", "/me").headers["X-Request-Id"] != ok.headers["X-Request-Id"]
