"""Delivers the SQS queues to the Lambda handler functions, as AWS's event source mappings do:
one message a call (batch_size=1), in the Lambda SQS event shape, deleted after the handler
returns; after an exception the message becomes visible again 5 s later (redelivery, as in AWS,
until the queue's maxReceiveCount moves it to its dead-letter queue)."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]
RETRY_DELAY_SECONDS = 5


class QueuePump(threading.Thread):
    def __init__(
        self, sqs: Any, queue_url: str, queue_arn: str, region: str, handler: Handler, stop: threading.Event
    ) -> None:
        super().__init__(name=f"pump:{queue_arn.rsplit(':', 1)[-1]}", daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._handler = handler
        self._stop = stop

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump_once(wait_seconds=1)
            except Exception:  # the emulator going away at shutdown, mostly
                if not self._stop.is_set():
                    traceback.print_exc()
                    self._stop.wait(1)

    def pump_once(self, wait_seconds: int = 0) -> int:
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        for message in messages:
            self._deliver(message)
        return len(messages)

    def _deliver(self, message: dict[str, Any]) -> None:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
        try:
            self._handler({"Records": [record]}, None)
        except Exception:
            traceback.print_exc()
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=RETRY_DELAY_SECONDS,
            )
            return
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
