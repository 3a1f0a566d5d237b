"""Prints every email the backend hands to SES, as it is sent, so that a 2FA code or an
invitation link can be read off the console. It hooks botocore's event system on the app's own
SES client (same process), so it shows exactly the parameters SES receives."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

from chalicelib.core import aws

_RULE = "-" * 72


def install() -> None:
    aws.ses().meta.events.register("provide-client-params.ses.*", _print_email)


def _print_email(params: dict[str, Any], model: Any, **_: Any) -> None:
    operation = getattr(model, "name", "")
    if operation == "SendEmail":
        to = ", ".join(params.get("Destination", {}).get("ToAddresses", []))
        message = params.get("Message", {})
        subject = message.get("Subject", {}).get("Data", "")
        body = message.get("Body", {})
        text = (body.get("Text") or body.get("Html") or {}).get("Data", "")
        _show(to, subject, text)
    elif operation == "SendRawEmail":
        parsed = email.message_from_bytes(params["RawMessage"]["Data"], policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        _show(str(parsed.get("To", "")), str(parsed.get("Subject", "")), text)
    elif operation == "SendTemplatedEmail":
        to = ", ".join(params.get("Destination", {}).get("ToAddresses", []))
        _show(to, f"[template {params.get('Template')}]", _fields(params.get("TemplateData", "{}")))
    elif operation == "SendBulkTemplatedEmail":
        for destination in params.get("Destinations", []):  # one email per destination, as SES sends
            to = ", ".join(destination.get("Destination", {}).get("ToAddresses", []))
            data = destination.get("ReplacementTemplateData") or params.get("DefaultTemplateData", "{}")
            _show(to, f"[template {params.get('Template')}]", _fields(data))


def _fields(template_data: str) -> str:
    """A templated email's data, one `name: value` a line (the invitation link among them)."""
    try:
        data = json.loads(template_data)
    except ValueError:
        return template_data
    return (
        "\n".join(f"{name}: {value}" for name, value in data.items())
        if isinstance(data, dict)
        else template_data
    )


def _show(to: str, subject: str, body: str) -> None:
    print(f"\n{_RULE}\nEMAIL to: {to}\nsubject: {subject}\n\n{body.strip()}\n{_RULE}", flush=True)
