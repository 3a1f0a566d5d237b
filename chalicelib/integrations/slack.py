"""Slack: the OAuth v2 install, request signatures, the payloads Slack sends us (legacy outgoing
webhooks, the Events API) and the Web API calls we make (`SlackClient`).

Parsers raise only `SlackPayloadError`, naming what is wrong. The client raises only
`SlackApiFailure`, whose `kind` tells the caller what to do: `rate_limited` (retry after
`retry_after` seconds), `transient` (retry later) or `permanent` (give up; the token or channel is
no good). slack_sdk is imported on first use only: importing any of its modules runs its package's
`__init__`, which loads the whole Web client (~190 ms), a price requests that never talk to Slack
should not pay on a cold start."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlencode

from chalicelib.integrations.payloads import PayloadReader

if TYPE_CHECKING:
    from slack_sdk.web import SlackResponse, WebClient

SCOPES = ("chat:write", "chat:write.customize", "incoming-webhook", "channels:read")
SLACKBOT_USER_ID = "USLACKBOT"
MAX_BODY_BYTES = 1024 * 1024  # the API's own limit; Slack's payloads are far smaller
MAX_FORM_FIELDS = 64  # an outgoing webhook sends a dozen
DEFAULT_RETRY_AFTER = 1.0

# Message subtypes that still carry a person's words; every other subtype is an edit, a
# deletion, a join, a topic change... (https://api.slack.com/events/message).
PERSON_SUBTYPES: frozenset[str | None] = frozenset({None, "thread_broadcast", "file_share"})
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
RATE_LIMITED_ERRORS = frozenset({"ratelimited", "rate_limited"})

_UNIX_TIME = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take " 1", "+1", "1_0"
_ERROR_CODE = re.compile(r"[a-z0-9_.]{1,100}")  # Slack's `error` values are snake_case codes

FailureKind = Literal["rate_limited", "permanent", "transient"]


class SlackPayloadError(ValueError):
    """A body that is not what Slack sends; the message names what is wrong."""


class SlackApiFailure(Exception):
    """Slack refused a call (`ok: false`, an HTTP error) or could not be reached."""

    def __init__(self, error: str, kind: FailureKind, retry_after: float | None = None) -> None:
        super().__init__(f"Slack API call failed: {error} ({kind})")
        self.error = error
        self.kind: FailureKind = kind
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind != "permanent"


# --- the install ---------------------------------------------------------------------------------


def authorize_url(base: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the admin to install the app (OAuth v2: https://slack.com/oauth/v2/authorize)."""
    query = urlencode(
        {"client_id": client_id, "scope": ",".join(SCOPES), "redirect_uri": redirect_uri, "state": state}
    )
    return f"{base}{'&' if '?' in base else '?'}{query}"


@dataclass(frozen=True)
class OAuthGrant:
    """What oauth.v2.access gives for an install: the bot token and the channel picked for the
    incoming webhook (the admin chooses it on Slack's consent page)."""

    team_id: str
    team_name: str
    bot_token: str = field(repr=False)
    bot_user_id: str
    app_id: str
    channel_id: str | None
    channel_name: str | None
    scope: str


def parse_oauth_grant(answer: Mapping[str, Any]) -> OAuthGrant:
    """oauth.v2.access's successful answer as an OAuthGrant."""
    kind = _optional_string(answer, "token_type")
    if kind != "bot":
        raise SlackPayloadError(f"token_type is {kind!r}, not 'bot'")
    team = _required_object(answer, "team")
    webhook = _optional_object(answer, "incoming_webhook") or {}
    return OAuthGrant(
        team_id=_required_string(team, "id", at="team."),
        team_name=_optional_string(team, "name", at="team.") or "",
        bot_token=_required_string(answer, "access_token"),
        bot_user_id=_required_string(answer, "bot_user_id"),
        app_id=_required_string(answer, "app_id"),
        channel_id=_optional_string(webhook, "channel_id", at="incoming_webhook.") or None,
        channel_name=_optional_string(webhook, "channel", at="incoming_webhook.") or None,
        scope=_optional_string(answer, "scope") or "",
    )


# --- what Slack sends us -------------------------------------------------------------------------


def verify_signature(
    signing_secret: str, body: bytes, timestamp: str | None, signature: str | None, now: float
) -> bool:
    """True when `signature` (X-Slack-Signature) is Slack's v0 signature of the raw `body` at
    `timestamp` (X-Slack-Request-Timestamp), and that timestamp is within 5 minutes of `now`
    either way (replays). Checked by slack_sdk's own verifier, in constant time; never raises."""
    if not signing_secret or timestamp is None or not _UNIX_TIME.fullmatch(timestamp):
        return False
    if signature is None or not signature.isascii():  # compare_digest raises on non-ASCII text
        return False
    try:
        text = body.decode("utf-8")  # Slack signs UTF-8; other bytes are not from Slack
    except UnicodeDecodeError:
        return False
    from slack_sdk.signature import Clock, SignatureVerifier

    class FixedClock(Clock):
        def now(self) -> float:
            return now

    verifier = SignatureVerifier(signing_secret, clock=FixedClock())
    return verifier.is_valid(body=text, timestamp=timestamp, signature=signature)


@dataclass(frozen=True)
class OutgoingWebhook:
    """A message that Slack's legacy outgoing webhook posted to us (a form body)."""

    team_id: str
    channel_id: str
    user_id: str | None
    user_name: str | None
    text: str
    timestamp: str | None = None  # the message's ts: with channel_id it names the message
    bot_id: str | None = None
    subtype: str | None = None
    token: str | None = field(default=None, repr=False)  # the integration's verification token

    @property
    def from_bot(self) -> bool:
        return (
            bool(self.bot_id)
            or self.subtype == "bot_message"
            or self.user_name == "slackbot"
            or self.user_id == SLACKBOT_USER_ID
        )


def parse_outgoing_webhook(body: bytes) -> OutgoingWebhook:
    form = _form_fields(body)
    return OutgoingWebhook(
        team_id=_required_string(form, "team_id"),
        channel_id=_required_string(form, "channel_id"),
        user_id=form.get("user_id") or None,
        user_name=form.get("user_name") or None,
        text=form.get("text", ""),
        timestamp=form.get("timestamp") or None,
        bot_id=form.get("bot_id") or None,
        subtype=form.get("subtype") or None,
        token=form.get("token") or None,
    )


@dataclass(frozen=True)
class SlackEvent:
    """The inner `event` of an Events API `event_callback`."""

    type: str
    subtype: str | None = None
    channel: str | None = None
    user: str | None = None
    text: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    ts: str | None = None
    user_display_name: str | None = None  # from `user_profile`, when Slack sends one

    @property
    def from_bot(self) -> bool:
        """Posted by a bot or an app (our own relay included): relaying it would loop."""
        return (
            bool(self.bot_id or self.app_id) or self.subtype == "bot_message" or self.user == SLACKBOT_USER_ID
        )

    @property
    def is_person_message(self) -> bool:
        """Words a person wrote in a channel: what gets relayed into the group."""
        return (
            self.type == "message"
            and not self.from_bot
            and self.subtype in PERSON_SUBTYPES
            and bool(self.user)
            and bool(self.text and self.text.strip())
        )


@dataclass(frozen=True)
class EventEnvelope:
    """An Events API request: `url_verification` (answer its `challenge`), `event_callback`
    (carries `event`), or another kind (`app_rate_limited`...) that carries no event."""

    type: str
    challenge: str | None = None
    team_id: str | None = None
    event_id: str | None = None  # unique across workspaces: the key of at-least-once delivery
    event_time: int | None = None
    event: SlackEvent | None = None


def parse_event(body: bytes) -> EventEnvelope:
    payload = _json_object(body)
    kind = _required_string(payload, "type")
    if kind == "url_verification":
        return EventEnvelope(type=kind, challenge=_required_string(payload, "challenge"))
    if kind == "event_callback":
        return EventEnvelope(
            type=kind,
            team_id=_required_string(payload, "team_id"),
            event_id=_required_string(payload, "event_id"),
            event_time=_optional_integer(payload, "event_time"),
            event=_slack_event(_required_object(payload, "event")),
        )
    return EventEnvelope(type=kind, team_id=_optional_string(payload, "team_id"))


def _slack_event(event: Mapping[str, Any]) -> SlackEvent:
    def text_of(key: str) -> str | None:
        return _optional_string(event, key, at="event.")

    return SlackEvent(
        type=_required_string(event, "type", at="event."),
        subtype=text_of("subtype"),
        channel=text_of("channel"),
        user=text_of("user"),
        text=text_of("text"),
        bot_id=text_of("bot_id"),
        app_id=text_of("app_id"),
        ts=text_of("ts"),
        user_display_name=_display_name(event),
    )


def _display_name(event: Mapping[str, Any]) -> str | None:
    profile = _optional_object(event, "user_profile", at="event.")
    if profile is None:
        return None
    at = "event.user_profile."
    display_name = _optional_string(profile, "display_name", at=at)
    return display_name or _optional_string(profile, "real_name", at=at) or None


# --- the Web API ---------------------------------------------------------------------------------


def api_failure(status: int, headers: Mapping[str, object], body: object) -> SlackApiFailure:
    """What a refused call means for the caller: `ok: false` with Slack's error code, or an HTTP
    error (a 5xx page carries no code: `http_503`)."""
    error = _error_code(status, body)
    if status == 429 or error in RATE_LIMITED_ERRORS:
        return SlackApiFailure(error, "rate_limited", retry_after=retry_after_seconds(headers))
    if status >= 500 or error in TRANSIENT_ERRORS:
        return SlackApiFailure(error, "transient")
    return SlackApiFailure(error, "permanent")


def retry_after_seconds(headers: Mapping[str, object]) -> float:
    """The `Retry-After` header of a 429, in seconds; 1 when absent or not a number."""
    value = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    try:
        seconds = float(value) if isinstance(value, str) else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_RETRY_AFTER


class SlackClient:
    """Slack's Web API through slack_sdk's WebClient, created on the first call. A 429 is not
    retried here (the caller retries through its queue after `retry_after`); a dropped
    connection is retried once, by slack_sdk's ConnectionErrorRetryHandler."""

    def __init__(self, api_url: str, timeout: float = 5.0) -> None:
        self._api_url = api_url.rstrip("/") + "/"
        self._timeout = timeout
        self._web: WebClient | None = None

    def exchange_code(self, client_id: str, client_secret: str, code: str, redirect_uri: str) -> OAuthGrant:
        answer = self._call(
            lambda web: web.oauth_v2_access(
                client_id=client_id, client_secret=client_secret, code=code, redirect_uri=redirect_uri
            )
        )
        try:
            return parse_oauth_grant(answer)
        except SlackPayloadError as err:
            raise SlackApiFailure("invalid_response", "permanent") from err

    def post_message(self, token: str, channel: str, text: str, username: str) -> str:
        """Posts as the bot under `username` (chat:write.customize); returns the message's ts."""
        answer = self._call(
            lambda web: web.chat_postMessage(
                token=token, channel=channel, text=text, username=username, unfurl_links=False
            )
        )
        ts = answer.get("ts")
        if not isinstance(ts, str) or not ts:
            # Posted, but we cannot say where: retrying would post it twice.
            raise SlackApiFailure("invalid_response", "permanent")
        return ts

    def channel_name(self, token: str, channel: str) -> str:
        """The channel's name (conversations.info, channels:read); SlackApiFailure
        `channel_not_found` when the bot's workspace has no such channel."""
        answer = self._call(lambda web: web.conversations_info(token=token, channel=channel))
        found = answer.get("channel")
        name = found.get("name") if isinstance(found, dict) else None
        if not isinstance(name, str) or not name:
            raise SlackApiFailure("invalid_response", "permanent")
        return f"#{name}"

    def auth_test(self, token: str) -> dict[str, Any]:
        return self._call(lambda web: web.auth_test(token=token))

    def _call(self, request: Callable[[WebClient], SlackResponse]) -> dict[str, Any]:
        from http.client import HTTPException

        from slack_sdk.errors import SlackApiError

        try:
            response = request(self._client())
        except SlackApiError as err:
            # `from None`: the SDK's error holds the request, Authorization header included.
            raise api_failure(err.response.status_code, err.response.headers, err.response.data) from None
        except (OSError, HTTPException) as err:  # URLError, timeouts, resets, TLS, broken replies
            raise SlackApiFailure(_connection_error(err), "transient") from err
        if not isinstance(response.data, dict):
            raise SlackApiFailure("invalid_response", "permanent")
        return response.data

    def _client(self) -> WebClient:
        if self._web is None:
            from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
            from slack_sdk.web import WebClient

            self._web = WebClient(
                base_url=self._api_url,
                timeout=cast(int, self._timeout),  # urllib takes a float; slack_sdk annotates int
                retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
                logger=_sdk_logger(),
            )
        return self._web


def _sdk_logger() -> logging.Logger:
    """slack_sdk logs whole responses at DEBUG, oauth.v2.access's access_token included: its
    logger never goes below INFO, whatever the app's level."""
    logger = logging.getLogger(f"{__name__}.sdk")
    logger.setLevel(logging.INFO)
    return logger


def _connection_error(err: BaseException) -> str:
    from urllib.error import URLError

    reason = err.reason if isinstance(err, URLError) else err
    return "timeout" if isinstance(reason, TimeoutError) else "connection_error"


def _error_code(status: int, body: object) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
        return error
    return f"http_{status}"


# --- reading payloads ----------------------------------------------------------------------------


_PAYLOAD = PayloadReader(SlackPayloadError, MAX_BODY_BYTES, MAX_FORM_FIELDS)
_json_object = _PAYLOAD.json_object
_form_fields = _PAYLOAD.form
_optional_string = _PAYLOAD.optional_string
_required_string = _PAYLOAD.required_string
_optional_integer = _PAYLOAD.optional_integer
_optional_object = _PAYLOAD.optional_object
_required_object = _PAYLOAD.required_object
