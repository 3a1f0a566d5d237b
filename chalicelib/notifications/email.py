"""Sending email through SES: one small interface, so services never build SES calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Template:
    """An SES template: `{{name}}` placeholders, filled per destination by SES."""

    name: str
    subject: str
    text: str


BULK_LIMIT = 50  # destinations a SendBulkTemplatedEmail call takes


class BulkSender:
    """SES bulk templated email: one call for up to 50 destinations, each with its own data.
    The template is created on first use in each container (CreateTemplate; updated if it
    exists), so its text lives with the code that fills it."""

    def __init__(self) -> None:
        self._ready: set[str] = set()

    def send(self, template: Template, destinations: list[tuple[str, dict[str, str]]]) -> int:
        """Sends, in calls of 50; returns the calls made."""
        import json

        self._ensure(template)
        calls = 0
        for start in range(0, len(destinations), BULK_LIMIT):
            batch = destinations[start : start + BULK_LIMIT]
            aws.ses().send_bulk_templated_email(
                Source=get_settings().email_sender,
                Template=template.name,
                DefaultTemplateData="{}",
                Destinations=[
                    {"Destination": {"ToAddresses": [to]}, "ReplacementTemplateData": json.dumps(data)}
                    for to, data in batch
                ],
            )
            calls += 1
        log.info(
            "bulk email sent",
            extra={"fields": {"template": template.name, "destinations": len(destinations)}},
        )
        return calls

    def _ensure(self, template: Template) -> None:
        if template.name in self._ready:
            return
        body: Any = {
            "TemplateName": template.name,
            "SubjectPart": template.subject,
            "TextPart": template.text,
        }
        ses = aws.ses()
        try:
            ses.create_template(Template=body)
        except ses.exceptions.AlreadyExistsException:
            ses.update_template(Template=body)
        self._ready.add(template.name)
