"""The event path: S3 → SQS → handler, and the jobs queue → handler, with Lambda's event shapes."""

import json
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.domain.s3_object import S3Object
from chalicelib.events import jobs as jobs_module
from chalicelib.events import s3_events


@pytest.fixture
def seen_objects(monkeypatch: pytest.MonkeyPatch) -> list[S3Object]:
    seen: list[S3Object] = []
    monkeypatch.setitem(s3_events.PROCESSORS, "imports/", seen.append)
    return seen


def _receive_all(queue_name: str) -> list[dict[str, Any]]:
    url = aws.sqs().get_queue_url(QueueName=queue_name)["QueueUrl"]
    messages: list[dict[str, Any]] = []
    while True:
        batch = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return messages
        messages += [dict(m) for m in batch]


def test_an_object_under_imports_reaches_its_processor_through_the_queue(
    client: Any, seen_objects: list[S3Object]
) -> None:
    aws.s3().put_object(Bucket="office-chat-files", Key="imports/acme/new users.csv", Body=b"Email\n")
    aws.s3().put_object(Bucket="office-chat-files", Key="elsewhere/acme/x.csv", Body=b"x")
    messages = _receive_all("office-chat-s3-events")
    bodies = [m["Body"] for m in messages]
    assert any("s3:TestEvent" in b for b in bodies)
    event = client.events.generate_sqs_event(message_bodies=bodies, queue_name="office-chat-s3-events")
    client.lambda_.invoke("on_s3_event", event)
    assert [(o.bucket, o.key, o.size) for o in seen_objects] == [
        ("office-chat-files", "imports/acme/new users.csv", 6)
    ]


def test_s3_messages_that_cannot_be_read_are_dropped(seen_objects: list[S3Object]) -> None:
    assert s3_events.handle_message("not json") == 0
    assert s3_events.handle_message("[]") == 0
    assert s3_events.handle_message(json.dumps({"Records": [{"s3": {}}]})) == 0
    removed = {
        "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "imports/acme/a.csv"}},
    }
    assert s3_events.handle_message(json.dumps({"Records": [removed]})) == 0
    assert seen_objects == []


def test_a_key_with_no_processor_is_ignored(seen_objects: list[S3Object]) -> None:
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "elsewhere/acme/1/logs.zip", "size": 3}},
    }
    assert s3_events.handle_message(json.dumps({"Records": [record]})) == 0
    assert seen_objects == []


def test_job_messages_run_the_step_of_their_kind(client: Any) -> None:
    from chalicelib.bootstrap import services
    from chalicelib.services.jobs import StepOutcome

    seen: list[str] = []

    def step(job: Any) -> StepOutcome:
        seen.append(job.checkpoint)
        return StepOutcome(done=1, checkpoint="", finished=True, result={"ok": True})

    jobs = services().jobs
    jobs.register("test.kind", step)
    job = jobs.start("acme", "test.kind", total=1, payload={}, actor="test")
    message = {"kind": "test.kind", "domain": "acme", "job_id": job.id, "checkpoint": ""}
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps(message)], queue_name="office-chat-jobs"
    )
    client.lambda_.invoke("on_job", event)
    client.lambda_.invoke("on_job", event)  # delivered twice: the finished job is left alone
    assert seen == [""]
    stored = jobs.get(_principal("acme"), job.id)
    assert (stored.status, stored.done, stored.result) == ("succeeded", 1, {"ok": True})
    assert jobs_module.handle_message(json.dumps({"kind": "unknown"})) is False
    assert jobs_module.handle_message("{") is False
    assert jobs_module.handle_message(json.dumps({"no": "kind"})) is False


def _principal(domain: str) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(domain=domain)


def test_a_job_failing_at_its_last_delivery_is_marked_failed(client: Any) -> None:
    from chalicelib.bootstrap import services
    from chalicelib.services.jobs import StepOutcome

    def step(job: Any) -> StepOutcome:
        raise RuntimeError("boom")

    jobs = services().jobs
    jobs.register("test.broken", step)
    job = jobs.start("acme", "test.broken", total=1, payload={}, actor="test")
    body = json.dumps({"kind": "test.broken", "domain": "acme", "job_id": job.id, "checkpoint": ""})
    with pytest.raises(RuntimeError):
        jobs_module.handle_message(body, receives=1)
    assert jobs.get(_principal("acme"), job.id).status == "queued"  # SQS will deliver it again
    with pytest.raises(RuntimeError):
        jobs_module.handle_message(body, receives=5)
    failed = jobs.get(_principal("acme"), job.id)
    assert failed.status == "failed" and "dead-letter" in failed.result["error"]
