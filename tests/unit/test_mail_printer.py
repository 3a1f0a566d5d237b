"""`make run`'s email printer: SES templates rendered as SES renders them (localdev/ses_templates.py)
and templated sends printed as the emails they are (localdev/mail_printer.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.notifications.email import INVITATION
from localdev import mail_printer
from localdev.ses_templates import render, template_data

LINK = "http://127.0.0.1:8000/accept-invite?token=dGVzdA.a-b_c=="
STORED = {"TemplateName": INVITATION.name, "SubjectPart": INVITATION.subject, "TextPart": INVITATION.text}


# --- the renderer -------------------------------------------------------------------------------


def test_variables_render_as_ses_does_without_escaping() -> None:
    data = {"name": "Ann & <Bo>", "contact": {"city": "Oslo"}, "items": ["a", "b"], "n": 2.0}
    rendered = render("{{name}}|{{{name}}}|{{& name}}|{{ contact.city }}|{{contact/city}}|{{n}}", data)
    assert rendered.text == "Ann & <Bo>|Ann & <Bo>|Ann & <Bo>|Oslo|Oslo|2"
    assert rendered.missing == ()
    assert (
        render("{{items}} {{items.[1]}} {{flag}}", {"items": ["a", "b"], "flag": True}).text == "a,b b true"
    )


def test_a_missing_variable_renders_empty_and_is_reported() -> None:
    rendered = render("Hi {{name}}, {{contact.first}} {{contact.first}}", {"contact": {}})
    assert rendered.text == "Hi ,  "
    assert rendered.missing == ("name", "contact.first")
    assert render("{{gone}}", {"gone": None}).missing == ()  # present, null: empty, as Handlebars


def test_the_invitation_template_renders_subject_and_link() -> None:
    data = {"name": "Elodie", "inviter": "Ann Lee", "domain": "demo", "link": LINK}
    assert render(INVITATION.subject, data).text == "Ann Lee invited you to demo on Office Chat"
    text = render(INVITATION.text, data).text
    assert text.startswith("Hello Elodie,\n\nAnn Lee invited you to the demo network on Office Chat.")
    # The single invitation (our render, sent by SendEmail) reads as SES renders the bulk one.
    single = INVITATION.render(data)
    assert (single.subject, single.text) == (render(INVITATION.subject, data).text, text)
    assert f"\n{LINK}\n" in text  # the link on its own line, `=` and all (SES escapes nothing)


def test_blocks_conditions_and_lists() -> None:
    template = (
        "Hi {{contact.first}}{{! not printed }},\n"
        "{{#if vip}}\n  VIP\n{{else if gold}}\n  Gold\n{{else}}\n  Plain\n{{/if}}\n"
        "{{#each orders}}\n  {{@index}}. {{item}} for {{../contact.first}}{{#if @last}} (last){{/if}}\n"
        "{{else}}\n  no orders\n{{/each}}\n"
        "{{#unless paid}}unpaid{{/unless}}"
    )
    data = {"contact": {"first": "Ann"}, "gold": 1, "orders": [{"item": "tea"}, {"item": "jam"}]}
    assert render(template, data).text == (
        "Hi Ann,\n  Gold\n  0. tea for Ann\n  1. jam for Ann (last)\nunpaid"
    )
    assert render(template, {"vip": True, "paid": True, "orders": []}).text == "Hi ,\n  VIP\n  no orders\n"
    assert render("{{#if z}}y{{else}}n{{/if}}{{#if e}}y{{else}}n{{/if}}", {"z": 0, "e": {}}).text == "ny"


def test_whitespace_control() -> None:
    assert render("a  {{~ name ~}}  b", {"name": "N"}).text == "aNb"


def test_what_it_does_not_render_is_printed_as_written() -> None:
    template = "{{#with p}}{{n}}{{/with}} {{> footer}} {{lookup a b}} \\{{name}} {{#if open}}x {{name}}"
    assert render(template, {"name": "N", "open": True}).text == (
        "{{#with p}}{{n}}{{/with}} {{> footer}} {{lookup a b}} {{name}} {{#if open}}x N"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{",
        "}}",
        "{{{",
        "{{#if}}",
        "{{/if}}",
        "{{else}}",
        "{{#each x}}{{else}}{{else}}",
        "{{!--",
        "{{#if a}}{{",
    ],
)
def test_broken_templates_never_raise(template: str) -> None:
    assert isinstance(render(template, {"a": 1}).text, str)


def test_replacement_data_is_merged_over_the_default_data() -> None:
    assert template_data('{"a": 1, "b": 2}', '{"b": 3}') == {"a": 1, "b": 3}
    assert template_data("{}", None) == {}
    with pytest.raises(ValueError):
        template_data("[1, 2]")


# --- the printer --------------------------------------------------------------------------------


def _blocks(out: str) -> list[str]:
    return [b.strip() for b in out.split("-" * 72) if b.strip().startswith("EMAIL to:")]


def _reader(name: str) -> Mapping[str, Any]:
    assert name == INVITATION.name
    return STORED


def _bulk(*destinations: tuple[str, str]) -> dict[str, Any]:
    return {
        "Source": "no-reply@office-chat.local",
        "Template": INVITATION.name,
        "DefaultTemplateData": '{"domain": "demo", "inviter": "Ann Lee"}',
        "Destinations": [
            {"Destination": {"ToAddresses": [to]}, "ReplacementTemplateData": data}
            for to, data in destinations
        ],
    }


def test_a_bulk_templated_send_prints_one_rendered_email_per_destination(
    capsys: pytest.CaptureFixture[str],
) -> None:
    params = _bulk(
        ("elo@demo.local", f'{{"name": "Elodie", "link": "{LINK}"}}'),  # domain from the default
        ("fay@demo.local", f'{{"name": "Fenna", "domain": "other", "link": "{LINK}x"}}'),
    )
    mail_printer.print_email("SendBulkTemplatedEmail", params, _reader)
    elo, fay = _blocks(capsys.readouterr().out)
    assert elo.splitlines()[:4] == [
        "EMAIL to: elo@demo.local",
        "subject: Ann Lee invited you to demo on Office Chat",
        "",
        "Hello Elodie,",
    ]
    assert LINK in elo.splitlines() and "[template" not in elo and "note:" not in elo
    assert "subject: Ann Lee invited you to other on Office Chat" in fay and f"{LINK}x" in fay.splitlines()


def test_a_templated_send_prints_the_rendered_email(capsys: pytest.CaptureFixture[str]) -> None:
    params = {
        "Template": INVITATION.name,
        "Destination": {"ToAddresses": ["elo@demo.local"], "BccAddresses": ["audit@demo.local"]},
        "TemplateData": f'{{"name": "Elodie", "inviter": "Ann", "domain": "demo", "link": "{LINK}"}}',
    }
    mail_printer.print_email("SendTemplatedEmail", params, _reader)
    (block,) = _blocks(capsys.readouterr().out)
    assert block.startswith("EMAIL to: elo@demo.local (bcc: audit@demo.local)\nsubject: Ann invited you")
    assert LINK in block.splitlines()


def test_the_single_and_the_bulk_invitation_print_alike(capsys: pytest.CaptureFixture[str]) -> None:
    """The same layout, whichever path sent it: recipient, subject, a blank line, the body with
    the link alone on its line (the single invitation's text is users.py's)."""
    single = {
        "Destination": {"ToAddresses": ["elo@demo.local"]},
        "Message": {
            "Subject": {"Data": "Demo Admin invited you to demo on Office Chat"},
            "Body": {
                "Text": {"Data": f"Hello Elodie,\n\nDemo Admin invited you.\n\nSign in here:\n{LINK}\n\nBye."}
            },
        },
    }
    mail_printer.print_email("SendEmail", single, _reader)
    mail_printer.print_email("SendBulkTemplatedEmail", _bulk(("elo@demo.local", _data("Elodie"))), _reader)
    shapes = [
        re.sub(r"(?m)^(EMAIL to|subject): .*$", r"\1: …", block).splitlines()[:4]
        for block in _blocks(capsys.readouterr().out)
    ]
    assert shapes[0] == shapes[1] == ["EMAIL to: …", "subject: …", "", "Hello Elodie,"]


def _data(name: str) -> str:
    return f'{{"name": "{name}", "link": "{LINK}"}}'


def test_a_missing_value_is_printed_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    mail_printer.print_email("SendBulkTemplatedEmail", _bulk(("x@demo.local", '{"name": "X"}')), _reader)
    (block,) = _blocks(capsys.readouterr().out)
    assert "note: real SES would not send this email (Rendering Failure): no value for {{link}}" in block


def test_an_unreadable_template_prints_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    def failing(name: str) -> Mapping[str, Any]:
        raise RuntimeError("TemplateDoesNotExist")

    mail_printer.print_email("SendBulkTemplatedEmail", _bulk(("elo@demo.local", _data("Elodie"))), failing)
    (block,) = _blocks(capsys.readouterr().out)
    assert "could not be read from SES: TemplateDoesNotExist" in block and f"link: {LINK}" in block


def test_the_hook_never_breaks_a_send(capsys: pytest.CaptureFixture[str]) -> None:
    mail_printer._print_email({}, SimpleNamespace(name="SendRawEmail"))  # no RawMessage: KeyError inside
    assert "could not print this SendRawEmail" in capsys.readouterr().out


def test_the_installed_printer_reads_the_stored_template(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto in-process: BulkSender stores the template and sends; the hook reads it back from SES."""
    from chalicelib.core import aws
    from chalicelib.notifications.email import BulkSender

    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    mail_printer.install()
    data = {"name": "Elodie", "inviter": "Ann Lee", "domain": "demo", "link": LINK}
    BulkSender().send(INVITATION, [("elo@demo.local", data)])
    (block,) = _blocks(capsys.readouterr().out)
    assert block.startswith("EMAIL to: elo@demo.local\nsubject: Ann Lee invited you to demo on Office Chat\n")
    assert LINK in block.splitlines() and "[template" not in block
