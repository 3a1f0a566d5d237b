"""Shared by the Slack tests: our Slack app's settings, the fixtures' payloads, signed Events
API requests, and a group with a Slack integration."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.core.clock import FixedClock
from tests.conftest import Api
from tests.integration.tenancy_content import create_group

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "test-slack-client-secret"
SIGNING_SECRET = "test-slack-signing-secret-0123456789"


def use_slack_app(monkeypatch: pytest.MonkeyPatch, api_url: str = "http://127.0.0.1:9/api") -> None:
    """Our Slack app's credentials and Slack's URLs (a fake's, or nowhere) in the settings."""
    from chalicelib.core.config import reset_settings

    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", api_url)
    monkeypatch.setenv("SLACK_AUTHORIZE_URL", api_url.removesuffix("/api") + "/oauth/v2/authorize")
    monkeypatch.setenv("OC_PUBLIC_URL", "https://chat.example.test")
    reset_settings()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").strip()


def fixture_json(name: str) -> dict[str, Any]:
    return dict(json.loads(fixture_text(name)))


# The tests' clock (conftest's FixedClock): Slack's timestamps must be within 5 minutes of it.
TEST_NOW = int(FixedClock().now().timestamp())


def signed_headers(body: bytes, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = str(TEST_NOW if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
    }


def send_event(api: Api, envelope: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    body = json.dumps(envelope).encode()
    return api.client.http.post("/hooks/slack/events", headers=headers or signed_headers(body), body=body)


def send_outgoing(api: Api, secret_path: str, form: str) -> Any:
    return api.client.http.post(
        secret_path, headers={"Content-Type": "application/x-www-form-urlencoded"}, body=form.encode()
    )


def slack_group(
    api: Api, token: str, display_name: str = "From Slack"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new group of the caller's, with a Slack integration: (group, integration)."""
    group = create_group(api, token)
    response = api.call(
        "POST", f"/groups/{group['id']}/integrations/slack", {"display_name": display_name}, token=token
    )
    assert response.status_code == 201, response.body
    return group, dict(response.json_body)


def webhook_path(integration: dict[str, Any]) -> str:
    return str(urlsplit(integration["webhook_url"]).path)


def state_of(authorize_url: str) -> str:
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


def group_texts(api: Api, token: str, group_id: str) -> list[dict[str, Any]]:
    items = api.call("GET", f"/groups/{group_id}/messages", token=token).json_body["items"]
    return [
        {"text": m["text"], "author": m["author"]["name"], **({"via": m["via"]} if "via" in m else {})}
        for m in items
    ]
