"""The MailChimp adapter without a network: the webhook bodies of tests/fixtures/mailchimp/ as
MailChimp sends them, the messages a group reads, malformed bodies, the key that makes a
redelivery a no-op, the connect URL, the OAuth answers, and what a refused call means."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest

from chalicelib.integrations.mailchimp import (
    EVENT_TYPES,
    MAX_BODY_BYTES,
    MAX_TEXT_CHARS,
    MailchimpAccount,
    MailchimpEvent,
    MailchimpPayloadError,
    RemoteWebhook,
    api_failure,
    authorize_url,
    event_text,
    parse_access_token,
    parse_account,
    parse_remote_webhook,
    parse_webhook_event,
    retry_after_seconds,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mailchimp"
ROOT = Path(__file__).resolve().parents[2]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body_of(name: str, **changes: str | None) -> bytes:
    """A fixture's form with fields changed (None removes one), its order kept."""
    sent = parse_qsl(fixture(f"{name}.txt").decode(), keep_blank_values=True)
    pairs: list[tuple[str, str | None]] = [(key, changes.get(key, value)) for key, value in sent]
    pairs += [(key, value) for key, value in changes.items() if key not in dict(sent)]
    return urlencode([(key, value) for key, value in pairs if value is not None]).encode()


def event_of(name: str, **changes: str | None) -> MailchimpEvent:
    return parse_webhook_event(body_of(name, **changes))


# --- the fixtures, as MailChimp sends them -------------------------------------------------------


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_event_type_has_a_fixture_encoded_as_mailchimp_sends_it(kind: str) -> None:
    body = fixture(f"{kind}.txt")
    assert body.startswith(f"type={kind}&fired_at=2009-03-26+".encode())
    assert b"data%5Blist_id%5D=a6b5da1054" in body  # brackets percent-encoded, as on the wire
    assert b"[" not in body and b" " not in body and not body.endswith(b"\n")
    assert parse_webhook_event(body).type == kind


def test_a_subscribe() -> None:
    assert parse_webhook_event(fixture("subscribe.txt")) == MailchimpEvent(
        type="subscribe",
        fired_at="2009-03-26 21:35:57",
        list_id="a6b5da1054",
        email="api@mailchimp.com",
        first_name="Mailchimp",
        last_name="API",
    )


def test_an_unsubscribe() -> None:
    assert parse_webhook_event(fixture("unsubscribe.txt")) == MailchimpEvent(
        type="unsubscribe",
        fired_at="2009-03-26 21:40:57",
        list_id="a6b5da1054",
        email="api+unsub@mailchimp.com",
        first_name="Mailchimp",
        last_name="API",
        reason="manual",
        action="unsub",
        campaign_id="cb398d21d2",
    )


def test_a_profile_update() -> None:
    assert parse_webhook_event(fixture("profile.txt")) == MailchimpEvent(
        type="profile",
        fired_at="2009-03-26 21:31:21",
        list_id="a6b5da1054",
        email="api@mailchimp.com",
        first_name="Mailchimp",
        last_name="API",
    )


def test_an_email_change_carries_the_new_address_as_email() -> None:
    assert parse_webhook_event(fixture("upemail.txt")) == MailchimpEvent(
        type="upemail",
        fired_at="2009-03-26 22:15:09",
        list_id="a6b5da1054",
        email="api+new@mailchimp.com",
        old_email="api+old@mailchimp.com",
        new_email="api+new@mailchimp.com",
    )


def test_a_cleaned_address() -> None:
    assert parse_webhook_event(fixture("cleaned.txt")) == MailchimpEvent(
        type="cleaned",
        fired_at="2009-03-26 22:01:00",
        list_id="a6b5da1054",
        email="api+cleaned@mailchimp.com",
        reason="hard",
        campaign_id="4fjk2ma9xd",
    )


def test_a_campaign_is_named_by_its_id_and_an_empty_reason_is_none() -> None:
    assert parse_webhook_event(fixture("campaign.txt")) == MailchimpEvent(
        type="campaign",
        fired_at="2009-03-26 21:31:21",
        list_id="a6b5da1054",
        campaign_id="5aa2102003",
        subject="Test Campaign Subject",
        status="sent",
    )


def test_fields_arrive_decoded() -> None:
    event = event_of("subscribe", **{"data[merges][FNAME]": "Zoë & Co", "data[email]": "zoë+x@example.com"})
    assert (event.first_name, event.email) == ("Zoë & Co", "zoë+x@example.com")


def test_a_blank_merge_field_is_none() -> None:
    event = event_of("subscribe", **{"data[merges][FNAME]": "", "data[merges][LNAME]": None})
    assert (event.first_name, event.last_name) == (None, None)


# --- malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"", "type is missing"),
        (body_of("subscribe", type=None), "type is missing"),
        (body_of("subscribe", type="pending"), "type is 'pending', not one of subscribe"),
        (body_of("subscribe", type="SUBSCRIBE"), "type is 'SUBSCRIBE'"),
        (body_of("subscribe", **{"data[list_id]": None}), r"data\[list_id\] is missing"),
        (body_of("campaign", **{"data[list_id]": ""}), r"data\[list_id\] is missing"),
        (body_of("subscribe", fired_at=None), "fired_at is missing"),
        (body_of("subscribe", **{"data[email]": None}), r"data\[email\] is missing"),
        (body_of("cleaned", **{"data[email]": ""}), r"data\[email\] is missing"),
        (body_of("upemail", **{"data[new_email]": None}), r"data\[new_email\] is missing"),
        (body_of("campaign", **{"data[id]": None}), r"data\[id\] is missing"),
        (fixture("subscribe.txt") + b"&type=unsubscribe", "type appears more than once"),
        (fixture("subscribe.txt") + b"&data%5Blist_id%5D=x", r"data\[list_id\] appears more than once"),
        (b"type=subscribe&fired_at", "not a form"),
        (fixture("subscribe.txt") + b"&x=%FF", "not a form"),
        (fixture("subscribe.txt") + b"&x=\xff", "not a form"),
        (
            fixture("subscribe.txt") + b"".join(b"&data%%5Bmerges%%5D%%5BF%d%%5D=1" % n for n in range(190)),
            "not a form",
        ),
        (fixture("subscribe.txt") + b"&pad=" + b"a" * MAX_BODY_BYTES, "larger than 65536 bytes"),
    ],
)
def test_a_malformed_body_raises_naming_the_problem(body: bytes, named: str) -> None:
    with pytest.raises(MailchimpPayloadError, match=named):
        parse_webhook_event(body)


def test_two_hundred_fields_are_fine() -> None:
    filler = b"".join(b"&data%%5Bmerges%%5D%%5BF%d%%5D=1" % n for n in range(188))  # 12 + 188
    assert parse_webhook_event(fixture("subscribe.txt") + filler).type == "subscribe"


# --- the key of at-least-once delivery -----------------------------------------------------------


def test_the_dedupe_key_is_the_same_for_every_delivery() -> None:
    key = parse_webhook_event(fixture("subscribe.txt")).dedupe_key
    assert len(key) == 64 and int(key, 16) >= 0  # SHA-256 hex: fits a sort key, says nothing
    assert parse_webhook_event(fixture("subscribe.txt")).dedupe_key == key
    # Fields outside the key (an IP, a merge field) do not make a redelivery a new event.
    assert event_of("subscribe", **{"data[ip_opt]": "10.0.0.1", "data[merges][FNAME]": "M"}).dedupe_key == key


@pytest.mark.parametrize(
    "change",
    [
        {"type": "profile"},
        {"fired_at": "2009-03-26 21:35:58"},
        {"data[list_id]": "a6b5da1055"},
        {"data[email]": "api+2@mailchimp.com"},
    ],
)
def test_the_dedupe_key_tells_events_apart(change: dict[str, str]) -> None:
    assert (
        event_of("subscribe", **change).dedupe_key != parse_webhook_event(fixture("subscribe.txt")).dedupe_key
    )


def test_every_fixture_has_its_own_dedupe_key() -> None:
    keys = {parse_webhook_event(fixture(f"{kind}.txt")).dedupe_key for kind in EVENT_TYPES}
    assert len(keys) == len(EVENT_TYPES)


def test_the_dedupe_key_of_a_campaign_and_an_email_change_names_what_they_are_about() -> None:
    campaign = parse_webhook_event(fixture("campaign.txt"))
    assert event_of("campaign", **{"data[id]": "other"}).dedupe_key != campaign.dedupe_key
    change = parse_webhook_event(fixture("upemail.txt"))
    assert event_of("upemail", **{"data[new_email]": "x@example.com"}).dedupe_key != change.dedupe_key


def test_parts_cannot_run_into_each_other() -> None:
    one = MailchimpEvent(type="subscribe", fired_at="a", list_id="bc", email="d")
    two = MailchimpEvent(type="subscribe", fired_at="ab", list_id="c", email="d")
    assert one.dedupe_key != two.dedupe_key


# --- what the group reads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("subscribe", "Mailchimp API <api@mailchimp.com> subscribed to Newsletter"),
        (
            "unsubscribe",
            "Mailchimp API <api+unsub@mailchimp.com> unsubscribed from Newsletter (reason: manual)",
        ),
        ("profile", "Mailchimp API <api@mailchimp.com> updated their profile in Newsletter"),
        ("upemail", "api+old@mailchimp.com changed email to api+new@mailchimp.com in Newsletter"),
        ("cleaned", "api+cleaned@mailchimp.com was cleaned from Newsletter (hard bounce)"),
        ("campaign", 'Campaign "Test Campaign Subject" was sent to Newsletter'),
    ],
)
def test_every_fixture_reads_as_a_sentence(kind: str, text: str) -> None:
    assert event_text(parse_webhook_event(fixture(f"{kind}.txt")), "Newsletter") == text


NO_NAME = {"data[merges][FNAME]": None, "data[merges][LNAME]": None}


@pytest.mark.parametrize(
    ("kind", "changes", "text"),
    [
        ("subscribe", NO_NAME, "api@mailchimp.com subscribed to Newsletter"),
        ("subscribe", {"data[merges][LNAME]": ""}, "Mailchimp <api@mailchimp.com> subscribed to Newsletter"),
        ("subscribe", {"data[merges][FNAME]": " "}, "API <api@mailchimp.com> subscribed to Newsletter"),
        (
            "unsubscribe",
            {**NO_NAME, "data[reason]": "abuse"},
            "api+unsub@mailchimp.com unsubscribed from Newsletter (reason: abuse report)",
        ),
        (
            "unsubscribe",
            {**NO_NAME, "data[reason]": None},
            "api+unsub@mailchimp.com unsubscribed from Newsletter",
        ),
        (
            "unsubscribe",
            {**NO_NAME, "data[action]": "delete"},
            "api+unsub@mailchimp.com was deleted from Newsletter (reason: manual)",
        ),
        ("profile", NO_NAME, "api@mailchimp.com updated their profile in Newsletter"),
        (
            "upemail",
            {"data[old_email]": None},
            "A subscriber changed email to api+new@mailchimp.com in Newsletter",
        ),
        (
            "cleaned",
            {"data[reason]": "abuse"},
            "api+cleaned@mailchimp.com was cleaned from Newsletter (abuse report)",
        ),
        ("cleaned", {"data[reason]": None}, "api+cleaned@mailchimp.com was cleaned from Newsletter"),
        (
            "cleaned",
            {"data[merges][FNAME]": "Ann"},
            "Ann <api+cleaned@mailchimp.com> was cleaned from Newsletter (hard bounce)",
        ),
        (
            "campaign",
            {"data[status]": "canceled"},
            'Campaign "Test Campaign Subject" is canceled for Newsletter',
        ),
        ("campaign", {"data[status]": None}, 'Campaign "Test Campaign Subject" changed for Newsletter'),
        ("campaign", {"data[subject]": None}, "Campaign 5aa2102003 was sent to Newsletter"),
    ],
)
def test_names_reasons_and_statuses_change_the_sentence(
    kind: str, changes: dict[str, str | None], text: str
) -> None:
    assert event_text(event_of(kind, **changes), "Newsletter") == text


def test_an_audience_without_a_name_is_named_by_its_id() -> None:
    text = event_text(parse_webhook_event(fixture("subscribe.txt")), " ")
    assert text == "Mailchimp API <api@mailchimp.com> subscribed to a6b5da1054"


def test_line_breaks_and_control_characters_cannot_forge_a_second_line() -> None:
    event = event_of(
        "campaign",
        **{"data[subject]": "Sale\n\n[admin] Please reset your password\u202e", "data[status]": "sent\r"},
    )
    text = event_text(event, "News\x00letter\u2028")
    assert text == 'Campaign "Sale [admin] Please reset your password" was sent to News letter'


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_the_longest_fields_still_make_a_short_message(kind: str) -> None:
    long = "x" * 5000
    changes = {
        "data[merges][FNAME]": long,
        "data[merges][LNAME]": long,
        "data[email]": long + "@example.com",
        "data[old_email]": long + "@example.com",
        "data[new_email]": long + "@example.com",
        "data[reason]": long,
        "data[subject]": long,
        "data[status]": long,
    }
    text = event_text(event_of(kind, **changes), "L" * 5000)
    assert len(text) <= MAX_TEXT_CHARS
    assert "…" in text


def test_a_long_subject_is_cut_with_an_ellipsis_and_the_audience_kept() -> None:
    text = event_text(event_of("campaign", **{"data[subject]": "Spring sale " * 40}), "Newsletter")
    assert text.startswith('Campaign "Spring sale Spring sale')
    assert text.endswith('…" was sent to Newsletter')


# --- the connect ---------------------------------------------------------------------------------


def test_the_authorize_url_encodes_everything() -> None:
    redirect_uri = "https://admin.example.com/oauth/mailchimp/callback?group=g 1&x=ü"
    url = authorize_url("https://login.mailchimp.com/", "123456789", redirect_uri, "st&ate=1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "login.mailchimp.com", "/oauth2/authorize")
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["123456789"],
        "redirect_uri": [redirect_uri],
        "state": ["st&ate=1"],
    }
    assert " " not in url and "ü" not in url


def test_the_token_answer_gives_the_token() -> None:
    assert parse_access_token(json.loads(fixture("token.json"))) == "not-a-real-mailchimp-access-token"


@pytest.mark.parametrize("answer", [{}, {"access_token": ""}, {"access_token": 5}])
def test_a_token_answer_without_a_token_raises(answer: dict[str, Any]) -> None:
    with pytest.raises(MailchimpPayloadError, match="access_token"):
        parse_access_token(answer)


def test_the_metadata_gives_the_account() -> None:
    account = parse_account("tok-123", json.loads(fixture("metadata.json")))
    assert account == MailchimpAccount(
        token="tok-123",
        dc="us1",
        api_endpoint="https://us1.api.mailchimp.com",
        account_name="Example Co",
        login_email="owner@example.com",
    )
    assert "tok-123" not in repr(account)  # a token never reaches a log


def test_metadata_without_account_name_or_login_is_fine() -> None:
    metadata = {"dc": "us7", "api_endpoint": "https://us7.api.mailchimp.com/"}
    account = parse_account("t", metadata)
    assert (account.api_endpoint, account.account_name, account.login_email) == (
        "https://us7.api.mailchimp.com",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"dc": None}, "dc is missing"),
        ({"dc": 1}, "dc must be a string"),
        ({"api_endpoint": None}, "api_endpoint is missing"),
        ({"api_endpoint": "us1.api.mailchimp.com"}, "api_endpoint is not an http"),
        ({"api_endpoint": "ftp://us1.api.mailchimp.com"}, "api_endpoint is not an http"),
        ({"api_endpoint": "https://us1.api.mailchimp.com/3.0"}, "api_endpoint is not an http"),
        ({"api_endpoint": "https://me:pw@us1.api.mailchimp.com"}, "api_endpoint is not an http"),
        ({"api_endpoint": "https://us1.api.mailchimp.com?x=1"}, "api_endpoint is not an http"),
        ({"login": "owner"}, "login must be an object"),
        ({"login": {"login_email": 7}}, "login.login_email must be a string"),
        ({"accountname": ["x"]}, "accountname must be a string"),
    ],
)
def test_odd_metadata_raises_naming_the_field(change: dict[str, Any], named: str) -> None:
    metadata = json.loads(fixture("metadata.json"))
    metadata.update(change)
    with pytest.raises(MailchimpPayloadError, match=named):
        parse_account("t", metadata)


def test_a_webhook_object_gives_the_flags_set_true() -> None:
    assert parse_remote_webhook(json.loads(fixture("webhook.json"))) == RemoteWebhook(
        id="7b3e5d2a91",
        list_id="a6b5da1054",
        url="https://admin.example.com/hooks/mailchimp/Q2hhdEhvb2tTZWNyZXQ",
        events=frozenset({"subscribe", "unsubscribe", "cleaned", "campaign"}),
        sources=frozenset({"user", "admin"}),
    )


def test_a_webhook_object_without_list_id_takes_the_one_asked_for() -> None:
    data = json.loads(fixture("webhook.json"))
    del data["list_id"], data["events"]
    hook = parse_remote_webhook(data, "k1l2m3n4o5")
    assert (hook.list_id, hook.events) == ("k1l2m3n4o5", frozenset())
    with pytest.raises(MailchimpPayloadError, match="list_id is missing"):
        parse_remote_webhook(data)


# --- refused calls -------------------------------------------------------------------------------


def problem(status: int, title: str, detail: str = "Something is off.") -> bytes:
    return json.dumps(
        {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": "995c5cb0-3280-4a6e-808b-3b096d0bb219",
        }
    ).encode()


@pytest.mark.parametrize(
    ("status", "title", "error"),
    [
        (401, "API Key Invalid", "token_rejected"),
        (403, "User Disabled", "token_rejected"),
        (403, "Forbidden", "token_rejected"),
        (404, "Resource Not Found", "resource_not_found"),
        (400, "Invalid Resource", "invalid_resource"),
        (400, "JSON Parse Error", "json_parse_error"),
        (405, "Method Not Allowed", "method_not_allowed"),
        (400, "  Member Exists! ", "member_exists"),
    ],
)
def test_marketing_api_refusals_are_permanent(status: int, title: str, error: str) -> None:
    failure = api_failure(status, {}, problem(status, title, "The URL did not return a valid response."))
    assert (failure.error, failure.kind, failure.status, failure.retryable) == (
        error,
        "permanent",
        status,
        False,
    )
    assert failure.detail == "The URL did not return a valid response."
    assert failure.retry_after is None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, problem(500, "Internal Server Error"), "http_500"),
        (502, b"<html>Bad Gateway</html>", "http_502"),
        (503, b"", "http_503"),
        (504, None, "http_504"),
    ],
)
def test_a_5xx_is_transient(status: int, body: bytes | None, error: str) -> None:
    failure = api_failure(status, {}, body or b"")
    assert (failure.error, failure.kind, failure.retryable) == (error, "transient", True)


def test_a_4xx_that_is_not_a_problem_document_is_named_by_its_status() -> None:
    failure = api_failure(400, {}, b"<html>bad request</html>")
    assert (failure.error, failure.kind, failure.detail) == ("http_400", "permanent", "")
    assert api_failure(302, {"Location": "https://elsewhere"}, b"").error == "http_302"


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, "invalid_grant", "permanent"),
        (400, "invalid_client", "permanent"),
        (401, "invalid_client", "permanent"),
        (400, "unsupported_grant_type", "permanent"),
        (401, "invalid_token", "permanent"),
        (503, "temporarily_unavailable", "transient"),
        (500, "server_error", "transient"),
    ],
)
def test_oauth_errors_keep_their_code(status: int, error: str, kind: str) -> None:
    body = json.dumps({"error": error, "error_description": "Invalid authorization code"}).encode()
    failure = api_failure(status, {}, body, oauth=True)
    assert (failure.error, failure.kind, failure.detail) == (error, kind, "Invalid authorization code")


def test_an_oauth_error_that_is_not_a_code_is_named_by_its_status() -> None:
    body = json.dumps({"error": "Something <b>bad</b> happened"}).encode()
    assert api_failure(400, {}, body, oauth=True).error == "http_400"
    assert api_failure(401, {}, b"", oauth=True).error == "http_401"  # not token_rejected: no token yet


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": "2.5"}, 2.5),
        ({}, 1.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1.0),
        ({"Retry-After": "-5"}, 1.0),
        ({"Retry-After": "nan"}, 1.0),
        ({"Retry-After": "inf"}, 1.0),
    ],
)
def test_a_429_is_rate_limited_with_its_retry_after(headers: dict[str, str], seconds: float) -> None:
    failure = api_failure(429, headers, problem(429, "Too Many Requests"))
    assert (failure.error, failure.kind, failure.retry_after, failure.retryable) == (
        "too_many_requests",
        "rate_limited",
        seconds,
        True,
    )
    assert retry_after_seconds(headers) == seconds


def test_a_failure_says_what_and_how_but_not_the_detail() -> None:
    failure = api_failure(404, {}, problem(404, "Resource Not Found", "List a1b2c3 not found"))
    assert str(failure) == "MailChimp API call failed: resource_not_found (permanent, HTTP 404)"


# --- cold starts ---------------------------------------------------------------------------------


def test_importing_the_adapter_loads_no_http_client() -> None:
    check = (
        "import sys, chalicelib.integrations.mailchimp; "
        "print(sorted(m for m in ('urllib.request', 'http.client', 'ssl', 'requests') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]"
