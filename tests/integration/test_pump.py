"""`make run`'s SQS pump (localdev/pump.py) against moto in-process: deliveries of one queue run
at once as under Lambda, never more than the setting, a failure comes back, the event is
Lambda's, and stopping loses no message."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.app import Chalice, SQSEvent

from localdev import run
from localdev.pump import DEFAULT_CONCURRENCY, RETRY_DELAY_SECONDS, QueuePump

REGION = "us-east-1"


@dataclass
class Queue:
    sqs: Any
    url: str
    arn: str

    def send(self, count: int) -> None:
        for n in range(count):
            self.sqs.send_message(QueueUrl=self.url, MessageBody=f"message {n}")

    def counts(self) -> tuple[int, int]:
        """(visible, in flight) messages, as SQS counts them."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def queue() -> Iterator[Queue]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="pumped", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield Queue(sqs, url, arn)


@contextmanager
def pumping(
    sqs: Any, queue: Queue, handler: Any, concurrency: int = DEFAULT_CONCURRENCY, retry: int = 1
) -> Iterator[QueuePump]:
    stop = threading.Event()
    pump = QueuePump(sqs, queue.url, queue.arn, REGION, handler, stop, concurrency, retry)
    if isinstance(sqs, RecordingSqs):
        sqs.pump = pump
    pump.start()
    try:
        yield pump
    finally:
        stop.set()
        assert pump.join_deliveries(15), "the pump did not stop"


def wait_until(condition: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class RecordingSqs:
    """The SQS client, noting each receive's MaxNumberOfMessages and the pump's deliveries in
    flight at that moment."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.pump: QueuePump | None = None
        self.receives: list[tuple[int, int, int]] = []  # (asked, in flight before, got)

    def receive_message(self, **params: Any) -> Any:
        assert self.pump is not None
        in_flight = self.pump.in_flight
        answer = self._sqs.receive_message(**params)
        self.receives.append((params["MaxNumberOfMessages"], in_flight, len(answer.get("Messages", []))))
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_four_deliveries_of_one_queue_run_at_once(queue: Queue) -> None:
    # The barrier lets no delivery through until four wait at it: one at a time would time out.
    barrier = threading.Barrier(4, timeout=10)
    handled: list[str] = []
    broken: list[BaseException] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError as error:
            broken.append(error)
            raise
        handled.append(event["Records"][0]["body"])

    queue.send(8)
    with pumping(queue.sqs, queue, handler, concurrency=4):
        wait_until(lambda: len(handled) == 8 or bool(broken))
        wait_until(lambda: queue.counts() == (0, 0))
    assert not broken
    assert sorted(handled) == sorted(f"message {n}" for n in range(8))


def test_deliveries_in_flight_never_exceed_the_setting(queue: Queue) -> None:
    lock = threading.Lock()
    active, peak, handled = [0], [0], [0]

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.15)
        with lock:
            active[0] -= 1
            handled[0] += 1

    sqs = RecordingSqs(queue.sqs)
    queue.send(15)
    with pumping(sqs, queue, handler, concurrency=3):
        wait_until(lambda: handled[0] == 15)
        wait_until(lambda: queue.counts() == (0, 0))
    assert peak[0] == 3
    # A receive never asks for more messages than there are free workers, so none waits locally.
    assert sqs.receives
    assert all(asked + in_flight <= 3 and got <= asked for asked, in_flight, got in sqs.receives)


def test_a_failed_delivery_comes_back_after_the_retry_delay_then_is_deleted(queue: Queue) -> None:
    deliveries: list[tuple[float, str]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        record = event["Records"][0]
        deliveries.append((time.monotonic(), record["attributes"]["ApproximateReceiveCount"]))
        if len(deliveries) == 1:
            raise RuntimeError("the first delivery fails")

    queue.send(1)
    with pumping(queue.sqs, queue, handler, retry=2):
        wait_until(lambda: len(deliveries) == 2)
        wait_until(lambda: queue.counts() == (0, 0))
    (first, first_count), (second, second_count) = deliveries
    assert (first_count, second_count) == ("1", "2")
    assert second - first >= 1.5  # invisible for the retry delay (2 s), not at once
    assert RETRY_DELAY_SECONDS == 5  # what `make run` uses, as the docs say


def test_the_event_is_lambdas_and_chalice_reads_it(queue: Queue) -> None:
    app = Chalice("pump-test")
    seen: list[dict[str, Any]] = []
    records: list[Any] = []

    @app.on_sqs_message(queue="pumped", batch_size=1)
    def on_message(event: SQSEvent) -> None:
        seen.append(event.to_dict())
        records.extend(event)

    queue.sqs.send_message(
        QueueUrl=queue.url,
        MessageBody='{"kind": "x"}',
        MessageAttributes={
            "origin": {"DataType": "String", "StringValue": "test"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    with pumping(queue.sqs, queue, on_message):
        wait_until(lambda: queue.counts() == (0, 0) and len(seen) == 1)

    (event,) = seen
    assert list(event) == ["Records"] and len(event["Records"]) == 1  # batch size 1
    (record,) = event["Records"]
    # The keys of Lambda's SQS record (AWS Lambda docs, "Using Lambda with Amazon SQS").
    assert set(record) == {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "md5OfMessageAttributes",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["eventSource"] == "aws:sqs"
    assert (record["eventSourceARN"], record["awsRegion"]) == (queue.arn, REGION)
    assert record["body"] == '{"kind": "x"}'
    assert {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    } <= set(record["attributes"])
    assert all(isinstance(v, str) for v in record["attributes"].values())
    assert record["messageAttributes"] == {
        "origin": {
            "stringValue": "test",
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        },
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"},
    }
    (parsed,) = records
    assert parsed.body == '{"kind": "x"}' and parsed.receipt_handle == record["receiptHandle"]


def test_stopping_stops_receiving_and_lets_the_running_delivery_finish(queue: Queue) -> None:
    started, release = threading.Event(), threading.Event()
    handled: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        started.set()
        release.wait(10)
        handled.append(event["Records"][0]["body"])

    stop = threading.Event()
    pump = QueuePump(queue.sqs, queue.url, queue.arn, REGION, handler, stop, 4, 1)
    queue.send(1)
    pump.start()
    assert started.wait(10)
    stop.set()
    pump.join(5)
    assert not pump.is_alive()  # the receiver ended while a delivery still ran
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody="after stop")
    release.set()
    assert pump.join_deliveries(10)
    assert handled == ["message 0"]
    assert queue.counts() == (1, 0)  # the one handled is deleted; the later one was never taken


def test_a_message_received_as_the_runner_stops_goes_back_to_the_queue_at_once(queue: Queue) -> None:
    stop = threading.Event()
    called: list[Any] = []

    class StopDuringReceive:
        """Ctrl-C arrives while the long poll is answering."""

        def receive_message(self, **params: Any) -> Any:
            answer = queue.sqs.receive_message(**params)
            stop.set()
            return answer

        def __getattr__(self, name: str) -> Any:
            return getattr(queue.sqs, name)

    queue.send(2)
    pump = QueuePump(
        StopDuringReceive(), queue.url, queue.arn, REGION, lambda e, c: called.append(e), stop, 4, 1
    )
    pump.start()
    assert pump.join_deliveries(10)
    assert called == []
    assert queue.counts() == (2, 0)  # visible again now, not after the 30 s visibility timeout
    again = queue.sqs.receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert len(again) == 2


@pytest.mark.parametrize("raw", ["0", "-2", "four", "2.5"])
def test_a_bad_concurrency_setting_stops_the_runner_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("OC_PUMP_CONCURRENCY", raw)
    with pytest.raises(SystemExit) as stopped:
        run.read_pump_concurrency()
    assert "OC_PUMP_CONCURRENCY must be a positive integer" in str(stopped.value)
    assert repr(raw) in str(stopped.value)


def test_the_concurrency_setting_defaults_to_four(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OC_PUMP_CONCURRENCY", raising=False)
    assert run.read_pump_concurrency() == 4
    monkeypatch.setenv("OC_PUMP_CONCURRENCY", " 16 ")
    assert run.read_pump_concurrency() == 16
