"""Prints every email the backend hands to SES, as it is sent, so that a 2FA code or an
invitation link can be read off the console. It hooks botocore's event system on the app's own
SES client (same process), so it shows exactly the parameters SES receives.

Templated sends (SendTemplatedEmail, SendBulkTemplatedEmail) are printed as SES would send them:
the stored template, read back from the emulator (GetTemplate, on the same client), rendered
with each destination's data (localdev.ses_templates), one printed email per destination. So an
invitation reads the same whichever path sent it: recipient, subject, body with its link.

A printer must never break `make run`: whatever goes wrong here is printed, never raised into
the send."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.core import aws
from localdev import run_dir, ses_templates

_RULE = "-" * 72

TemplateReader = Callable[[str], Mapping[str, Any]]


def install() -> None:
    aws.ses().meta.events.register("provide-client-params.ses.*", _print_email)


def read_stored_template(name: str) -> Mapping[str, Any]:
    """The template as SES stores it: {TemplateName, SubjectPart, TextPart, HtmlPart}."""
    template: Mapping[str, Any] = aws.ses().get_template(TemplateName=name)["Template"]
    return template


def _print_email(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore's provide-client-params hook: must return None (a value would replace the
    parameters of the call) and must not raise (that would fail the send)."""
    operation = getattr(model, "name", "")
    try:
        print_email(operation, params, read_stored_template)
    except Exception as error:  # the email is sent all the same; say that it was not printed
        print(f"\n(make run could not print this {operation}: {error!r})", flush=True)


def print_email(operation: str, params: Mapping[str, Any], read_template: TemplateReader) -> None:
    if operation == "SendEmail":
        message = params.get("Message", {})
        body = message.get("Body", {})
        text = (body.get("Text") or body.get("Html") or {}).get("Data", "")
        _show(_recipients(params.get("Destination", {})), message.get("Subject", {}).get("Data", ""), text)
    elif operation == "SendRawEmail":
        parsed = email.message_from_bytes(params["RawMessage"]["Data"], policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html"))
        text = part.get_content() if part is not None else ""
        _show(str(parsed.get("To", "")), str(parsed.get("Subject", "")), text)
    elif operation == "SendTemplatedEmail":
        _print_templated(params, [(params.get("Destination", {}), params.get("TemplateData"))], read_template)
    elif operation == "SendBulkTemplatedEmail":  # one email per destination, as SES sends
        destinations = [
            (destination.get("Destination", {}), destination.get("ReplacementTemplateData"))
            for destination in params.get("Destinations", [])
        ]
        _print_templated(params, destinations, read_template, params.get("DefaultTemplateData"))


def _print_templated(
    params: Mapping[str, Any],
    destinations: list[tuple[Mapping[str, Any], str | None]],
    read_template: TemplateReader,
    default_data: str | None = None,
) -> None:
    name = str(params.get("Template") or str(params.get("TemplateArn", "")).rsplit("/", 1)[-1])
    try:
        template = read_template(name)
    except Exception as error:  # real SES refuses the call (TemplateDoesNotExist): show the data
        for destination, data in destinations:
            subject = f"(template {name} could not be read from SES: {_reason(error)})"
            _show(_recipients(destination), subject, _fields(data or default_data or "{}"))
        return
    for destination, data in destinations:
        _show(*templated_email(template, destination, default_data, data))


def templated_email(
    template: Mapping[str, Any],
    destination: Mapping[str, Any],
    default_data: str | None,
    data: str | None,
) -> tuple[str, str, str, str]:
    """(to, subject, body, note) of the email SES sends to one destination: the text part (else
    the HTML part) and the subject, rendered with `data` merged over `default_data`."""
    try:
        values = ses_templates.template_data(default_data, data)
    except ValueError as error:
        return _recipients(destination), str(template.get("SubjectPart", "")), _fields(data), str(error)
    subject = ses_templates.render(str(template.get("SubjectPart") or ""), values)
    body = ses_templates.render(str(template.get("TextPart") or template.get("HtmlPart") or ""), values)
    missing = dict.fromkeys(subject.missing + body.missing)
    note = (
        "real SES would not send this email (Rendering Failure): no value for "
        + ", ".join("{{" + name + "}}" for name in missing)
        if missing
        else ""
    )
    return _recipients(destination), subject.text, body.text, note


def _recipients(destination: Mapping[str, Any]) -> str:
    to = ", ".join(destination.get("ToAddresses", []))
    for field, label in (("CcAddresses", "cc"), ("BccAddresses", "bcc")):
        if destination.get(field):
            to += f" ({label}: {', '.join(destination[field])})"
    return to


def _reason(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or error)
    return str(error)


def _fields(template_data: str | None) -> str:
    """A templated email's data, one `name: value` a line (the invitation link among them)."""
    try:
        data = json.loads(template_data or "{}")
    except ValueError:
        return template_data or ""
    return (
        "\n".join(f"{name}: {value}" for name, value in data.items())
        if isinstance(data, dict)
        else str(template_data)
    )


def _show(to: str, subject: str, body: str, note: str = "") -> None:
    header = f"EMAIL to: {to}\nsubject: {subject}" + (f"\nnote: {note}" if note else "")
    shown = f"\n{_RULE}\n{header}\n\n{body.strip()}\n{_RULE}\n"
    print(shown, end="", flush=True)
    run_dir.append_mail(shown)  # the walk-through reads links and codes from there
