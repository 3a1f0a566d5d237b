"""Delivers the SQS queues to the Lambda handler functions, as AWS's event source mappings do.

Lambda runs many deliveries of one queue at once, so this pump does too: up to `concurrency`
deliveries in flight per queue (`OC_PUMP_CONCURRENCY`, 4 by default), each one message a call
(batch_size=1) in the Lambda SQS event shape, on a thread of its own. A message is deleted after
the handler returns; after an exception it becomes visible again 5 s later (redelivery, as in
AWS, until the queue's maxReceiveCount moves it to its dead-letter queue).

One receiver thread per queue long-polls for at most as many messages as there are free
workers, so a received message starts at once and never waits in a local queue while its
visibility timeout runs. On stop, the receiver stops receiving; a message received but not yet
handed to its handler is made visible again at once, and a delivery still running when the
runner exits is abandoned like a Lambda that timed out: its message becomes visible again when
its visibility timeout ends. No message is deleted unless its handler returned.
"""

from __future__ import annotations

import base64
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
RETRY_DELAY_SECONDS = 5
DEFAULT_CONCURRENCY = 4
MAX_RECEIVE = 10  # SQS's largest MaxNumberOfMessages
# The system attributes Lambda puts on a record (the rest of ReceiveMessage's "All" it leaves out).
LAMBDA_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


class QueuePump(threading.Thread):
    """The event source mapping of one queue: a receiver thread (this one) and up to
    `concurrency` delivery threads."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        handler: Handler,
        stop: threading.Event,
        concurrency: int = DEFAULT_CONCURRENCY,
        retry_delay_seconds: int = RETRY_DELAY_SECONDS,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        super().__init__(name=f"pump:{queue_arn.rsplit(':', 1)[-1]}", daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._handler = handler
        self._stopping = stop  # not `_stop`: threading.Thread has a method of that name
        self._concurrency = concurrency
        self._retry_delay = retry_delay_seconds
        self._changed = threading.Condition()
        self._in_flight = 0  # messages received and not yet deleted or released

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def run(self) -> None:
        while not self._stopping.is_set():
            free = self._wait_for_free_workers()
            if not free:
                continue
            try:
                messages = self._receive(free, wait_seconds=1)
            except Exception:  # the emulator going away at shutdown, mostly
                if not self._stopping.is_set():
                    traceback.print_exc()
                    self._stopping.wait(1)
                continue
            for message in messages:
                self._start_delivery(message)

    def join_deliveries(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for the receiver and the running deliveries to end
        (call after setting the stop event); True if all ended."""
        deadline = time.monotonic() + timeout
        self.join(max(0.0, deadline - time.monotonic()))
        with self._changed:
            while self._in_flight and time.monotonic() < deadline:
                self._changed.wait(max(0.0, deadline - time.monotonic()))
            return not self._in_flight and not self.is_alive()

    def _wait_for_free_workers(self) -> int:
        with self._changed:
            while self._in_flight >= self._concurrency and not self._stopping.is_set():
                self._changed.wait(0.2)
            return 0 if self._stopping.is_set() else self._concurrency - self._in_flight

    def _receive(self, free: int, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(free, MAX_RECEIVE),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def _start_delivery(self, message: dict[str, Any]) -> None:
        with self._changed:
            self._in_flight += 1
        worker = threading.Thread(
            target=self._deliver, args=(message,), name=f"{self.name}:{message['MessageId']}", daemon=True
        )
        worker.start()

    def _deliver(self, message: dict[str, Any]) -> None:
        try:
            if self._stopping.is_set():  # received as the runner stopped: back to the queue, untouched
                self._change_visibility(message, 0)
                return
            try:
                self._handler(lambda_event(message, self._queue_arn, self._region), None)
            except Exception:
                traceback.print_exc()
                self._change_visibility(message, self._retry_delay)
                return
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception:  # the emulator going away at shutdown: the message stays in the queue
            if not self._stopping.is_set():
                traceback.print_exc()
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def _change_visibility(self, message: dict[str, Any], seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=seconds
        )


def lambda_event(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping gives a function for one message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            name: value for name, value in message.get("Attributes", {}).items() if name in LAMBDA_ATTRIBUTES
        },
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return {"Records": [record]}


def _lambda_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's `{"StringValue", "DataType"}` as Lambda writes it: camelCase, the list
    fields always present, binary values base64-encoded."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(item) for item in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _b64(value["BinaryValue"])
    return attribute


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()
