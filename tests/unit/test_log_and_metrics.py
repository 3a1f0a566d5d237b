"""The JSON formatter's redaction of secrets, the summary line of a unit of work, and the
shape of the Embedded Metric Format lines (core/log.py, core/metrics.py)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest

from chalicelib.core import metrics
from chalicelib.core.log import REDACTED, JsonFormatter, annotate, count_aws_call, redact_text, work


def _formatted(message: str, fields: dict[str, Any] | None = None, exc_info: Any = None) -> dict[str, Any]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, None, exc_info)
    if fields is not None:
        record.fields = fields
    return dict(json.loads(JsonFormatter().format(record)))


def test_fields_named_as_secrets_are_redacted_at_any_depth() -> None:
    line = _formatted(
        "x",
        {
            "token": "acme.u1.abc",
            "trusted_token": "t",
            "password": "hunter2 hunter2",
            "client_secret": "s",
            "Authorization": "Bearer abc",
            "nested": {"access_token": "xoxb-1", "oauth_code": "c0de", "items": [{"signature": "v0=ab"}]},
            "user_id": "u1",
            "count_of_tokens": 3,
        },
    )
    for name in ("token", "trusted_token", "password", "client_secret", "Authorization"):
        assert line[name] == REDACTED
    assert line["nested"]["access_token"] == REDACTED
    assert line["nested"]["oauth_code"] == REDACTED
    assert line["nested"]["items"][0]["signature"] == REDACTED
    assert line["user_id"] == "u1"
    assert line["count_of_tokens"] == 3  # a number names no secret


def test_a_code_field_keeps_an_error_code_and_hides_a_secret_one() -> None:
    line = _formatted("x", {"code": "object_replaced", "status_code": 404, "recovery_codes": ["ab12-cd34"]})
    assert line["code"] == "object_replaced"
    assert line["status_code"] == 404
    assert line["recovery_codes"] == REDACTED
    assert _formatted("x", {"code": "123456"})["code"] == REDACTED
    assert _formatted("x", {"code": "4/0AbC-dEf"})["code"] == REDACTED


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("PUT https://b.s3.amazonaws.com/k?X-Amz-Signature=0123abcdef&X-Amz-Date=1", "0123abcdef"),
        ("https://b/k?X-Amz-Security-Token=FwoGZX&a=b", "FwoGZX"),
        ("Authorization: Bearer acme.u1.secretpart", "acme.u1.secretpart"),
        ("GET /invite?token=inv-secret-1 HTTP/1.1", "inv-secret-1"),
        ("GET /oauth/slack/callback?state=st4te&code=c0de HTTP/1.1", "c0de"),
        ("POST /hooks/slack/whsec-123 HTTP/1.1", "whsec-123"),
        ("POST /hooks/mailchimp/mcsec-456", "mcsec-456"),
    ],
)
def test_secrets_inside_text_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact_text(text)
    assert REDACTED in redact_text(text)
    assert secret not in json.dumps(_formatted(text, {"url": text}))


def test_text_without_secrets_is_left_alone() -> None:
    for text in ("POST /hooks/slack/events", "/hooks/slack/{secret}", "GET /admin/users/{user_id} 200"):
        assert redact_text(text) == text


def test_exceptions_are_redacted_too() -> None:
    try:
        raise ValueError("could not GET https://b/k?X-Amz-Signature=deadbeef")
    except ValueError:
        line = _formatted("failed", exc_info=sys.exc_info())
    assert "deadbeef" not in line["exception"]


class _Model:
    def __init__(self, service: str, name: str) -> None:
        self.name = name
        self.service_model = type("ServiceModel", (), {"service_name": service})()


def test_work_logs_one_summary_line_with_its_aws_calls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chalicelib.work")
    count_aws_call(model=_Model("dynamodb", "Query"))  # outside any work: counted nowhere
    with work("request", route="/me") as line:
        annotate(domain="acme")
        count_aws_call(model=_Model("dynamodb", "BatchGetItem"))
        count_aws_call(model=_Model("dynamodb", "BatchGetItem"))
        count_aws_call(model=_Model("s3", "PutObject"))
        line["status"] = 200
    annotate(domain="ignored")  # outside any work: nothing to add to
    [record] = [r for r in caplog.records if r.name == "chalicelib.work"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["route"] == "/me" and fields["domain"] == "acme" and fields["status"] == 200
    assert fields["aws_calls"] == {"dynamodb.BatchGetItem": 2, "s3.PutObject": 1}
    assert fields["aws_call_count"] == 3
    assert fields["duration_ms"] >= 0


def test_work_that_raises_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chalicelib.work")
    with pytest.raises(KeyError), work("event", event="job"):
        raise KeyError("x")
    [record] = [r for r in caplog.records if r.name == "chalicelib.work"]
    assert record.fields["outcome"] == "error"  # type: ignore[attr-defined]
    assert record.fields["error"] == "KeyError"  # type: ignore[attr-defined]


def _emf_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "chalicelib.metrics"]


def test_a_count_is_one_embedded_metric_format_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OC_STAGE", "prod")
    from chalicelib.core.config import get_settings

    get_settings.cache_clear()
    caplog.set_level(logging.INFO, logger="chalicelib.metrics")
    try:
        metrics.count("Logins", outcome="failed", domain="acme")
    finally:
        get_settings.cache_clear()
    [line] = _emf_lines(caplog)
    directive = line["_aws"]["CloudWatchMetrics"]
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert directive == [
        {
            "Namespace": "OfficeChat",
            "Dimensions": [["Stage", "Outcome"]],
            "Metrics": [{"Name": "Logins", "Unit": "Count"}],
        }
    ]
    assert line["Logins"] == 1 and line["Stage"] == "prod" and line["Outcome"] == "failed"
    assert line["domain"] == "acme"  # a property, not a dimension: no metric per domain


def test_rows_per_second_gives_the_rows_and_their_pace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chalicelib.metrics")
    metrics.rows_per_second("Import", 500, 0.25, domain="acme")
    metrics.rows_per_second("Import", 0, 0.0)
    first, second = _emf_lines(caplog)
    names = {m["Name"]: m["Unit"] for m in first["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"ImportRows": "Count", "ImportRowsPerSecond": "Count/Second"}
    assert first["ImportRows"] == 500 and first["ImportRowsPerSecond"] == 2000.0
    assert second["ImportRowsPerSecond"] == 0.0
    for line in (first, second):  # every metric the directive names is a member of the line
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            assert metric["Name"] in line
        for name in line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]:
            assert isinstance(line[name], str)


def test_metrics_are_silent_below_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="chalicelib.metrics")
    metrics.count("JobFailures", job_kind="import_users")
    assert not _emf_lines(caplog)


def test_a_pool_thread_runs_in_the_callers_context() -> None:
    from concurrent.futures import ThreadPoolExecutor
    from contextvars import ContextVar

    from chalicelib.core.log import carried

    seen: ContextVar[list[str]] = ContextVar("seen")
    calls: list[str] = []
    seen.set(calls)

    def record(name: str) -> int:
        seen.get().append(name)  # the caller's list: what a request's AWS call counter relies on
        return 1

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert sum(pool.map(carried(record), ["a", "b", "c", "d"])) == 4
    assert sorted(calls) == ["a", "b", "c", "d"]
