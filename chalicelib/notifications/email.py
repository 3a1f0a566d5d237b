"""Sending email through SES: one small interface, so services never build SES calls."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.log import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


class EmailSender:
    def send(self, email: Email) -> str:
        """Sends a plain-text email; returns SES's message id."""
        answer = aws.ses().send_email(
            Source=get_settings().email_sender,
            Destination={"ToAddresses": [email.to]},
            Message={
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}},
            },
        )
        message_id = str(answer["MessageId"])
        log.info("email sent", extra={"fields": {"ses_message_id": message_id, "subject": email.subject}})
        return message_id
