"""Shared fixtures: a fake AWS environment, moto in-process with the resources of infra/, a
movable clock, and the app under chalice.test.Client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

PLATFORM_KEY = "test-platform-key-0123456789"
CURSOR_KEY = "test-cursor-key-0123456789abcdef"
ADMIN_PASSWORD = "correct horse battery staple"

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from chalicelib.core import aws
    from chalicelib.core.config import reset_settings

    monkeypatch.delenv("OC_AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("OC_PLATFORM_KEY", PLATFORM_KEY)
    monkeypatch.setenv("OC_CURSOR_KEY", CURSOR_KEY)
    monkeypatch.delenv("OC_CURSOR_KEY_SSM_PARAM", raising=False)
    reset_settings()
    aws.reset_clients()
    yield
    reset_settings()
    aws.reset_clients()


@pytest.fixture
def aws_env(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with exactly the resources infra/template.yaml defines, refusing what
    DynamoDB refuses as `make run`'s emulator does (localdev/emulator.py patch_dynamodb_checks),
    with its requests atomic (patch_atomic_requests), and S3 event records that carry S3's
    `sequencer` and `versionId` (patch_s3_events)."""
    from moto import mock_aws

    from chalicelib.bootstrap import reset_services
    from chalicelib.core import aws
    from infra.emulator import provision_emulator
    from localdev.emulator import patch_atomic_requests, patch_dynamodb_checks, patch_s3_events

    patch_dynamodb_checks(monkeypatch.setattr)
    patch_atomic_requests(monkeypatch.setattr)
    patch_s3_events(monkeypatch.setattr)
    with mock_aws():
        aws.reset_clients()
        reset_services()
        provision_emulator(aws.client, "us-east-1")
        yield
        reset_services()


@pytest.fixture
def clock(aws_env: None) -> Iterator[Any]:
    """Services with a clock that only moves when a test says so."""
    from chalicelib.bootstrap import build_services, reset_services, use_services
    from chalicelib.core.clock import FixedClock

    fixed = FixedClock()
    use_services(build_services(clock=fixed))
    yield fixed
    reset_services()


@pytest.fixture
def client(clock: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


class Api:
    """Small helpers over chalice.test.Client for the contract's JSON calls."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = {"Content-Type": "application/json"}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
        return self.client.http.request(method, path, headers=all_headers, body=raw or b"")

    def provision(self, name: str = "acme", **overrides: Any) -> Any:
        domain = name
        body: dict[str, Any] = {
            "domain": domain,
            "plan": "business",
            "billing": "monthly",
            "hipaa": False,
            "admin": {
                "email": f"admin@{domain}.example",
                "first_name": "Ada",
                "last_name": "Admin",
                "password": ADMIN_PASSWORD,
            },
        }
        body.update(overrides)
        return self.call("POST", "/platform/domains", body, headers={"X-Platform-Key": PLATFORM_KEY})

    def login(
        self,
        domain: str = "acme",
        email: str | None = None,
        password: str = ADMIN_PASSWORD,
        client_kind: str = "web",
        device_id: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "domain": domain,
            "email": email or f"admin@{domain}.example",
            "password": password,
            "client": client_kind,
        }
        if client_kind in ("ios", "android"):
            body["device"] = {
                "device_id": device_id or "install-1",
                "type": client_kind,
                "name": "Test phone",
                "os_version": "14",
                "app_version": "3.2.1",
            }
        return self.call("POST", "/auth/login", body)

    def admin_token(self, domain: str = "acme") -> str:
        assert self.provision(domain).status_code == 201
        response = self.login(domain)
        assert response.status_code == 200, response.body
        return str(response.json_body["token"])


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


def error_of(response: Any) -> tuple[int, str]:
    """(status, error code) of a contract error answer; fails if the body is not that shape."""
    body = response.json_body
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    return response.status_code, body["error"]["code"]
