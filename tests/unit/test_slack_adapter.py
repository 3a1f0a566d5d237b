"""The Slack adapter without a network: signatures (Slack's own worked example), the payloads of
tests/fixtures/slack/ as Slack sends them, bot detection (relaying a bot's post would loop),
malformed bodies, the install URL and what a refused API call means for the caller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from chalicelib.integrations.slack import (
    MAX_BODY_BYTES,
    SCOPES,
    EventEnvelope,
    OAuthGrant,
    SlackEvent,
    SlackPayloadError,
    api_failure,
    authorize_url,
    parse_event,
    parse_oauth_grant,
    parse_outgoing_webhook,
    retry_after_seconds,
    verify_signature,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"
ROOT = Path(__file__).resolve().parents[2]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def event_body(**changes: Any) -> bytes:
    """event_message.json with fields of its inner event changed (None removes one)."""
    payload = json.loads(fixture("event_message.json"))
    payload["event"].update(changes)
    payload["event"] = {key: value for key, value in payload["event"].items() if value is not None}
    return json.dumps(payload).encode()


# --- signatures ----------------------------------------------------------------------------------

EXAMPLE = json.loads(fixture("signature_example.json"))
SIGNED_AT = int(EXAMPLE["timestamp"])


def verify(
    body: bytes | None = None,
    timestamp: str | None = EXAMPLE["timestamp"],
    signature: str | None = EXAMPLE["signature"],
    now: float = SIGNED_AT,
    secret: str = EXAMPLE["signing_secret"],
) -> bool:
    return verify_signature(
        secret, EXAMPLE["body"].encode() if body is None else body, timestamp, signature, now
    )


def test_slacks_documented_example_verifies() -> None:
    assert verify()


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_a_signature_verifies_within_five_minutes_either_way(offset: int) -> None:
    assert verify(now=SIGNED_AT + offset)


@pytest.mark.parametrize("offset", [301, -301, 3600, -86400])
def test_a_stale_or_future_timestamp_fails(offset: int) -> None:
    assert not verify(now=SIGNED_AT + offset)


@pytest.mark.parametrize(
    "forgery",
    [
        {"body": EXAMPLE["body"].replace("roadrunner", "wile_e").encode()},
        {"body": EXAMPLE["body"].encode() + b" "},
        {"signature": EXAMPLE["signature"][:-1] + "0"},
        {"signature": EXAMPLE["signature"].replace("v0=", "v1=")},
        {"signature": EXAMPLE["signature"].upper()},
        {"secret": "another-signing-secret"},
        {"secret": ""},
        {"timestamp": str(SIGNED_AT + 1), "now": SIGNED_AT + 1},  # a replay with a fresh timestamp
    ],
)
def test_a_forged_request_fails(forgery: dict[str, Any]) -> None:
    assert not verify(**forgery)


@pytest.mark.parametrize(
    "headers",
    [
        {"timestamp": None},
        {"signature": None},
        {"timestamp": None, "signature": None},
        {"timestamp": ""},
        {"signature": ""},
        {"timestamp": "soon"},
        {"timestamp": f" {SIGNED_AT}"},
        {"timestamp": f"+{SIGNED_AT}"},
        {"timestamp": f"{SIGNED_AT}.5"},
        {"timestamp": "1_531_420_618"},
        {"timestamp": "١٥٣١٤٢٠٦١٨"},  # digits int() would read, not ASCII
        {"timestamp": "9" * 400},
        {"signature": "v0=é" + "0" * 63},  # compare_digest raises on non-ASCII text
    ],
)
def test_missing_or_malformed_headers_fail_without_raising(headers: dict[str, Any]) -> None:
    assert not verify(**headers)


def test_a_body_that_is_not_utf8_fails_without_raising() -> None:
    assert not verify(body=b"\xff\xfe" + EXAMPLE["body"].encode())


# --- legacy outgoing webhooks --------------------------------------------------------------------


def test_an_outgoing_webhook_from_a_person() -> None:
    hook = parse_outgoing_webhook(fixture("outgoing_webhook.txt"))
    assert (hook.team_id, hook.channel_id, hook.user_id, hook.user_name) == (
        "T0001",
        "C2147483705",
        "U2147483697",
        "Steve",
    )
    assert hook.text == "googlebot: What is the air-speed velocity of an unladen swallow?"
    assert hook.timestamp == "1504640775.000005"
    assert (hook.bot_id, hook.subtype, hook.from_bot) == (None, None, False)
    assert hook.token == "XXXXXXXXXXXXXXXXXX"
    assert "XXXXXXXXXXXXXXXXXX" not in repr(hook)  # a verification token never reaches a log


def test_an_outgoing_webhook_from_slackbot_is_from_a_bot() -> None:
    hook = parse_outgoing_webhook(fixture("outgoing_webhook_slackbot.txt"))
    assert (hook.user_id, hook.user_name, hook.from_bot) == ("USLACKBOT", "slackbot", True)


@pytest.mark.parametrize(
    "marker",
    [{"bot_id": "B0123ABC"}, {"subtype": "bot_message"}, {"user_name": "slackbot"}, {"user_id": "USLACKBOT"}],
)
def test_any_bot_marker_makes_an_outgoing_webhook_from_a_bot(marker: dict[str, str]) -> None:
    fields = dict(parse_qs(fixture("outgoing_webhook.txt").decode()))
    fields.update({name: [value] for name, value in marker.items()})
    hook = parse_outgoing_webhook(urlencode(fields, doseq=True).encode())
    assert hook.from_bot


def test_an_outgoing_webhook_without_text_has_empty_text() -> None:
    # Attachments are not sent: a message of attachments only arrives with an empty text.
    hook = parse_outgoing_webhook(b"team_id=T0001&channel_id=C2147483705&user_id=U1&user_name=ann&text=")
    assert hook.text == ""


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"", "team_id is missing"),
        (b"channel_id=C1&text=hi", "team_id is missing"),
        (b"team_id=T1&text=hi", "channel_id is missing"),
        (b"team_id=&channel_id=C1", "team_id is missing"),
        (b"team_id=T1&team_id=T2&channel_id=C1", "team_id appears more than once"),
        (b"team_id=T1&channel_id", "not a form"),
        (b"team_id=T1&channel_id=C1&text=%FF", "not a form"),
        (b"team_id=T1&channel_id=C1&text=\xff", "not a form"),
        (b"&".join(b"f%d=1" % n for n in range(100)), "not a form"),
        (b"team_id=T1&channel_id=C1&text=" + b"a" * MAX_BODY_BYTES, "larger than"),
    ],
)
def test_a_malformed_outgoing_webhook_raises_naming_the_problem(body: bytes, named: str) -> None:
    with pytest.raises(SlackPayloadError, match=named):
        parse_outgoing_webhook(body)


# --- the Events API ------------------------------------------------------------------------------


def test_url_verification_carries_its_challenge() -> None:
    envelope = parse_event(fixture("url_verification.json"))
    assert envelope == EventEnvelope(
        type="url_verification", challenge="3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    )


def test_a_persons_message_in_a_channel() -> None:
    envelope = parse_event(fixture("event_message.json"))
    assert (envelope.type, envelope.team_id, envelope.event_id, envelope.event_time) == (
        "event_callback",
        "T123ABC456",
        "Ev123ABC456",
        1355517523,
    )
    assert envelope.event == SlackEvent(
        type="message",
        channel="C123ABC456",
        user="U123ABC456",
        text="Live long and prospect.",
        ts="1355517523.000005",
    )
    assert envelope.event.is_person_message
    assert not envelope.event.from_bot
    assert envelope.event.user_display_name is None


def test_a_bot_message_is_from_a_bot() -> None:
    event = parse_event(fixture("event_bot_message.json")).event
    assert event is not None
    assert (event.subtype, event.bot_id, event.user, event.text) == (
        "bot_message",
        "BB12033",
        None,
        "Pushing is the answer",
    )
    assert event.from_bot
    assert not event.is_person_message


def test_an_apps_message_is_from_a_bot_though_it_has_a_user_and_no_subtype() -> None:
    # What our own relay's posts look like when Slack sends them back: relaying them would loop.
    event = parse_event(fixture("event_app_message.json")).event
    assert event is not None
    assert (event.user, event.subtype, event.bot_id, event.app_id) == (
        "U0AB12ABC",
        None,
        "B123ABC456",
        "A123ABC456",
    )
    assert event.from_bot
    assert not event.is_person_message


@pytest.mark.parametrize(
    ("changes", "is_person"),
    [
        ({"subtype": "thread_broadcast"}, True),
        ({"subtype": "file_share"}, True),
        ({"subtype": "message_changed"}, False),
        ({"subtype": "message_deleted", "text": None}, False),
        ({"subtype": "channel_join", "text": "<@U123ABC456|bobby> has joined the channel"}, False),
        ({"subtype": "bot_message"}, False),
        ({"bot_id": "B0123ABC"}, False),
        ({"app_id": "A0123ABC"}, False),
        ({"user": "USLACKBOT"}, False),
        ({"user": None}, False),
        ({"text": ""}, False),
        ({"text": " \n\t"}, False),
        ({"text": None}, False),
        ({"type": "app_mention"}, False),
    ],
)
def test_only_a_persons_words_are_a_person_message(changes: dict[str, Any], is_person: bool) -> None:
    event = parse_event(event_body(**changes)).event
    assert event is not None
    assert event.is_person_message is is_person


@pytest.mark.parametrize(
    ("profile", "name"),
    [
        ({"display_name": "bobby", "real_name": "Bobby Tables"}, "bobby"),
        ({"display_name": "", "real_name": "Bobby Tables"}, "Bobby Tables"),
        ({"real_name": "Bobby Tables"}, "Bobby Tables"),
        ({"display_name": "", "real_name": ""}, None),
        ({"avatar_hash": "g12345678910"}, None),
    ],
)
def test_the_display_name_comes_from_the_user_profile(profile: dict[str, str], name: str | None) -> None:
    event = parse_event(event_body(user_profile=profile)).event
    assert event is not None
    assert event.user_display_name == name


def test_an_envelope_of_another_kind_carries_no_event() -> None:
    payload = {"token": "XXYYZZ", "team_id": "T123ABC456", "minute_rate_limited": 1518467820}
    body = json.dumps({**payload, "type": "app_rate_limited"}).encode()
    assert parse_event(body) == EventEnvelope(type="app_rate_limited", team_id="T123ABC456")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"", "not JSON"),
        (b"challenge=abc&type=url_verification", "not JSON"),
        (b'{"type": "url_verification"', "not JSON"),
        (b'{"type": "url_\xff"}', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'["event_callback"]', "not a JSON object"),
        (b"null", "not a JSON object"),
        (b"{}", "type is missing"),
        (b'{"type": 7}', "type must be a string"),
        (b'{"type": "url_verification"}', "challenge is missing"),
        (b'{"type": "event_callback", "team_id": "T1", "event_id": "Ev1"}', "event is missing"),
        (
            b'{"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": []}',
            "event must be an object",
        ),
        (
            b'{"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}}',
            "team_id is missing",
        ),
        (b'{"type": "event_callback", "team_id": "T1", "event": {"type": "message"}}', "event_id is missing"),
        (
            b'{"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": {}}',
            "event.type is missing",
        ),
        (b'{"type": "' + b"a" * MAX_BODY_BYTES + b'"}', "larger than"),
    ],
)
def test_a_malformed_event_body_raises_naming_the_problem(body: bytes, named: str) -> None:
    with pytest.raises(SlackPayloadError, match=named):
        parse_event(body)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"text": 42}, "event.text must be a string"),
        ({"user": {"id": "U1"}}, "event.user must be a string"),
        ({"user_profile": "bobby"}, "event.user_profile must be an object"),
        ({"user_profile": {"display_name": 1}}, "event.user_profile.display_name must be a string"),
    ],
)
def test_a_field_of_the_wrong_type_raises_naming_it(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(SlackPayloadError, match=named):
        parse_event(event_body(**changes))


@pytest.mark.parametrize("event_time", ["1355517523", 1355517523.5, True])
def test_an_event_time_that_is_not_an_integer_raises(event_time: object) -> None:
    payload = json.loads(fixture("event_message.json"))
    payload["event_time"] = event_time
    with pytest.raises(SlackPayloadError, match="event_time must be an integer"):
        parse_event(json.dumps(payload).encode())


# --- the install ---------------------------------------------------------------------------------


def test_the_authorize_url_asks_for_our_scopes_and_encodes_everything() -> None:
    redirect_uri = "https://admin.example.com/slack/oauth?group=g 1&x=ü"
    url = authorize_url("https://slack.com/oauth/v2/authorize", "1234.5678", redirect_uri, "st&ate=1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "slack.com", "/oauth/v2/authorize")
    assert parse_qs(parts.query) == {
        "client_id": ["1234.5678"],
        "scope": ["chat:write,chat:write.customize,incoming-webhook,channels:read"],
        "redirect_uri": [redirect_uri],
        "state": ["st&ate=1"],
    }
    assert SCOPES == ("chat:write", "chat:write.customize", "incoming-webhook", "channels:read")
    assert " " not in url and "ü" not in url


def test_the_authorize_url_extends_a_base_that_has_a_query() -> None:
    url = authorize_url("http://127.0.0.1:8600/oauth/v2/authorize?team=T1", "id", "http://x/cb", "s")
    assert parse_qs(urlsplit(url).query)["team"] == ["T1"]
    assert parse_qs(urlsplit(url).query)["client_id"] == ["id"]


def test_an_oauth_answer_gives_the_grant() -> None:
    grant = parse_oauth_grant(json.loads(fixture("oauth_v2_access.json")))
    assert grant == OAuthGrant(
        team_id="T9TK3CUKW",
        team_name="Slack Softball Team",
        bot_token="xoxb-not-a-real-token-pdFZKVeTuE8sk7oOcBrzbqgy",
        bot_user_id="U0KRQLJ9H",
        app_id="A0KRD7HC3",
        channel_id="C05002EAE",
        channel_name="#channel-it-will-post-to",
        scope="chat:write,chat:write.customize,incoming-webhook,channels:read",
    )
    assert "xoxb" not in repr(grant)  # a bot token never reaches a log


def test_an_oauth_answer_without_incoming_webhook_has_no_channel() -> None:
    answer = json.loads(fixture("oauth_v2_access.json"))
    del answer["incoming_webhook"]
    grant = parse_oauth_grant(answer)
    assert (grant.channel_id, grant.channel_name) == (None, None)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"token_type": "user"}, "token_type is 'user', not 'bot'"),
        ({"access_token": None}, "access_token is missing"),
        ({"team": None}, "team is missing"),
        ({"team": {"name": "x"}}, "team.id is missing"),
        ({"bot_user_id": 5}, "bot_user_id must be a string"),
        ({"incoming_webhook": "C05002EAE"}, "incoming_webhook must be an object"),
    ],
)
def test_an_oauth_answer_that_is_not_a_bot_install_raises(change: dict[str, Any], named: str) -> None:
    answer = json.loads(fixture("oauth_v2_access.json"))
    answer.update(change)
    with pytest.raises(SlackPayloadError, match=named):
        parse_oauth_grant(answer)


# --- refused API calls ---------------------------------------------------------------------------

PERMANENT = [
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "no_permission",
    "missing_scope",
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "invalid_code",
    "code_already_used",
    "bad_redirect_uri",
    "invalid_client_id",
    "bad_client_secret",
    "msg_too_long",  # any error not known to be transient
]


@pytest.mark.parametrize("error", PERMANENT)
def test_slacks_refusals_are_permanent(error: str) -> None:
    failure = api_failure(200, {}, {"ok": False, "error": error})
    assert (failure.error, failure.kind, failure.retry_after, failure.retryable) == (
        error,
        "permanent",
        None,
        False,
    )


@pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable", "request_timeout"])
def test_slacks_own_troubles_are_transient(error: str) -> None:
    failure = api_failure(200, {}, {"ok": False, "error": error})
    assert (failure.error, failure.kind, failure.retryable) == (error, "transient", True)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, b"<html>Internal Server Error</html>", "http_500"),
        (502, {"ok": False, "error": "Received a response in a non-JSON format: <html>"}, "http_502"),
        (503, {"ok": False, "error": "service_unavailable"}, "service_unavailable"),
        (504, None, "http_504"),
    ],
)
def test_a_5xx_is_transient(status: int, body: object, error: str) -> None:
    failure = api_failure(status, {}, body)
    assert (failure.error, failure.kind) == (error, "transient")


def test_a_4xx_without_a_slack_error_is_permanent() -> None:
    failure = api_failure(404, {}, b"not found")
    assert (failure.error, failure.kind) == ("http_404", "permanent")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"Retry-After": "0"}, 0.0),
        ({}, 1.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1.0),
        ({"Retry-After": "-5"}, 1.0),
        ({"Retry-After": "nan"}, 1.0),
        ({"Retry-After": "inf"}, 1.0),
    ],
)
def test_a_429_is_rate_limited_with_its_retry_after(headers: dict[str, str], seconds: float) -> None:
    failure = api_failure(429, headers, {"ok": False, "error": "ratelimited"})
    assert (failure.error, failure.kind, failure.retry_after, failure.retryable) == (
        "ratelimited",
        "rate_limited",
        seconds,
        True,
    )
    assert retry_after_seconds(headers) == seconds


def test_ratelimited_without_a_429_is_rate_limited_too() -> None:
    failure = api_failure(200, {}, {"ok": False, "error": "ratelimited"})
    assert (failure.kind, failure.retry_after) == ("rate_limited", 1.0)


# --- cold starts ---------------------------------------------------------------------------------


def test_importing_the_adapter_loads_no_slack_sdk() -> None:
    check = (
        "import sys, chalicelib.integrations.slack; print(sorted(m for m in sys.modules if 'slack_sdk' in m))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
