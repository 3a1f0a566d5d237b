"""One summary line per request and per event (core/log.py `work`): the route as declared,
the status, the domain and the AWS calls the request made, counted on every client."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from chalicelib.core.log import JsonFormatter
from tests.conftest import PLATFORM_KEY, Api


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="chalicelib")
    return caplog


def _summaries(caplog: pytest.LogCaptureFixture, message: str = "request") -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [
        json.loads(formatter.format(r))
        for r in caplog.records
        if r.name == "chalicelib.work" and r.getMessage() == message
    ]


def test_one_access_line_per_request_with_its_route_domain_status_and_aws_calls(
    api: Api, lines: pytest.LogCaptureFixture
) -> None:
    token = api.admin_token("acme")
    lines.clear()
    response = api.call("GET", "/me", token=token)
    assert response.status_code == 200
    [line] = _summaries(lines)
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/me", 200)
    assert line["domain"] == "acme"
    assert line["aws_calls"] == {"dynamodb.BatchGetItem": 1}
    assert line["aws_call_count"] == 1
    assert isinstance(line["duration_ms"], float)
    assert token not in json.dumps(line)


def test_the_route_is_the_template_never_the_concrete_path(api: Api, lines: pytest.LogCaptureFixture) -> None:
    token = api.admin_token("acme")
    lines.clear()
    assert api.call("GET", "/admin/users/u-nobody", token=token).status_code == 404
    assert api.call("POST", "/hooks/slack/not-a-real-secret-42", body="{}").status_code in (401, 403, 404)
    first, second = _summaries(lines)
    assert (first["route"], first["status"], first["domain"]) == ("/admin/users/{user_id}", 404, "acme")
    assert second["route"] == "/hooks/slack/{secret}"
    assert "not-a-real-secret-42" not in json.dumps(second)


def test_login_lines_carry_the_domain_and_the_login_metric(api: Api, lines: pytest.LogCaptureFixture) -> None:
    api.provision("acme")
    lines.clear()
    assert api.login("acme", password="not the password at all").status_code == 401
    [line] = _summaries(lines)
    assert (line["route"], line["status"], line["domain"]) == ("/auth/login", 401, "acme")
    assert "not the password at all" not in json.dumps(line)
    [metric] = [r.fields for r in lines.records if r.name == "chalicelib.metrics"]  # type: ignore[attr-defined]
    assert metric["Logins"] == 1 and metric["Outcome"] == "failed" and metric["domain"] == "acme"


def test_platform_routes_name_the_domain_of_their_path(api: Api, lines: pytest.LogCaptureFixture) -> None:
    api.provision("acme")
    lines.clear()
    api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY})
    [line] = _summaries(lines)
    assert (line["route"], line["status"], line["domain"]) == ("/platform/domains/{domain}", 200, "acme")


def test_one_line_per_job_message(client: Any, lines: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"kind": "no_such_kind", "domain": "acme", "job_id": "j1", "checkpoint": ""})
    event = client.events.generate_sqs_event(message_bodies=[body], queue_name="office-chat-jobs")
    client.lambda_.invoke("on_job", event)
    [line] = _summaries(lines, "event")
    assert (line["event"], line["job_kind"], line["domain"], line["outcome"]) == (
        "job",
        "no_such_kind",
        "acme",
        "dropped",
    )
    assert line["aws_call_count"] == 0 and line["receives"] == 1


def test_one_line_per_s3_event_with_the_key_prefix(client: Any, lines: pytest.LogCaptureFixture) -> None:
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "office-chat-files"}, "object": {"key": "elsewhere/acme/x.csv"}},
            }
        ]
    }
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps(notification)], queue_name="office-chat-s3-events"
    )
    client.lambda_.invoke("on_s3_event", event)
    [line] = _summaries(lines, "event")
    assert (line["event"], line["key_prefix"], line["domain"]) == ("s3_event", "elsewhere/acme", "acme")
