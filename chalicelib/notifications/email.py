"""Sending email through SES: one small interface, so services never build SES calls."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.core.log import get_logger

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "ses:SendEmail",
    "ses:SendBulkTemplatedEmail",
    "ses:CreateTemplate",
    "ses:UpdateTemplate",
)

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
    """An SES template: `{{name}}` placeholders, filled per destination by SES (bulk sends), or
    here (`render`, for a single send of the same email)."""

    name: str
    subject: str
    text: str

    def render(self, data: dict[str, str]) -> Email:
        """The email SES would make of this template for one destination (plain `{{name}}`
        placeholders only: what our templates use)."""
        to = data.get("to", "")
        return Email(to=to, subject=_fill(self.subject, data), text=_fill(self.text, data))


def _fill(text: str, data: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: data.get(m.group(1), ""), text)


# The invitation, the same words whichever way it goes: one SendEmail when an admin invites a user,
# SendBulkTemplatedEmail (this template, stored in SES) for an import's new users.
INVITATION = Template(
    name="office-chat-invitation",
    subject="{{inviter}} invited you to {{domain}} on Office Chat",
    text=(
        "Hello {{name}},\n\n"
        "{{inviter}} invited you to the {{domain}} network on Office Chat.\n\n"
        "Set your password and sign in here:\n{{link}}\n\n"
        "The link works once and expires in 7 days. If you did not expect this, ignore this email.\n"
    ),
)
INVITER_UNKNOWN = "Your administrator"


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
        calls = refused = 0
        for start in range(0, len(destinations), BULK_LIMIT):
            batch = destinations[start : start + BULK_LIMIT]
            answer = aws.ses().send_bulk_templated_email(
                Source=get_settings().email_sender,
                Template=template.name,
                DefaultTemplateData="{}",
                Destinations=[
                    {"Destination": {"ToAddresses": [to]}, "ReplacementTemplateData": json.dumps(data)}
                    for to, data in batch
                ],
            )
            calls += 1
            refused += _log_refusals(template, answer.get("Status", []))
        log.info(
            "bulk email sent",
            extra={
                "fields": {"template": template.name, "destinations": len(destinations), "refused": refused}
            },
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


def _log_refusals(template: Template, statuses: list[Any]) -> int:
    """SES answers a bulk call 200 even when it refuses some destinations: each has its own
    Status (`MessageRejected`, `InvalidRendering`…). A refusal is logged (without the address)."""
    refused = [s for s in statuses if s.get("Status", "Success") != "Success"]
    for status in refused:
        log.warning(
            "bulk email refused for a destination",
            extra={
                "fields": {
                    "template": template.name,
                    "status": status.get("Status"),
                    "error": status.get("Error"),
                }
            },
        )
    return len(refused)
