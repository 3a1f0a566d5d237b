"""The local runner's parts that run without the emulator."""

from types import SimpleNamespace

import pytest

from localdev import mail_printer, run


def test_emails_are_printed_with_recipient_subject_and_body(capsys: pytest.CaptureFixture[str]) -> None:
    params = {
        "Source": "no-reply@office-chat.local",
        "Destination": {"ToAddresses": ["jane@acme.example"]},
        "Message": {"Subject": {"Data": "Your code"}, "Body": {"Text": {"Data": "Code: 123456"}}},
    }
    mail_printer._print_email(params, SimpleNamespace(name="SendEmail"))
    out = capsys.readouterr().out
    assert "to: jane@acme.example" in out and "subject: Your code" in out and "Code: 123456" in out


def test_raw_emails_show_their_text_part(capsys: pytest.CaptureFixture[str]) -> None:
    raw = (
        b"To: bob@acme.example\r\nSubject: Invitation\r\nContent-Type: text/plain\r\n\r\n"
        b"Accept: http://x/accept-invite?token=abc\r\n"
    )
    mail_printer._print_email({"RawMessage": {"Data": raw}}, SimpleNamespace(name="SendRawEmail"))
    out = capsys.readouterr().out
    assert "bob@acme.example" in out and "Invitation" in out and "accept-invite?token=abc" in out


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OC_PORT", "9001")
    monkeypatch.setenv("OC_AWS_PORT", "9002")
    monkeypatch.setenv("OC_PLATFORM_KEY", "chosen")
    monkeypatch.delenv("OC_DEMO_PASSWORD", raising=False)
    config = run.read_config()
    assert (config.port, config.aws_port, config.platform_key) == (9001, 9002, "chosen")
    assert not config.platform_key_generated and config.demo_password_generated
    assert len(config.demo_password) >= 16


def test_the_access_log_shows_no_webhook_secret_nor_query_string() -> None:
    from localdev.server import redacted

    assert redacted('"POST /hooks/slack/4Zf4dhlQoClh-40UEM1_RayrC4 HTTP/1.1" 200 -') == (
        '"POST /hooks/slack/… HTTP/1.1" 200 -'
    )
    assert (
        redacted('"POST /hooks/slack/events HTTP/1.1" 200 -') == '"POST /hooks/slack/events HTTP/1.1" 200 -'
    )
    assert (
        redacted('"GET /accept-invite?token=abc.def HTTP/1.1" 200 -')
        == '"GET /accept-invite?… HTTP/1.1" 200 -'
    )
