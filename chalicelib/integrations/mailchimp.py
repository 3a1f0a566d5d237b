"""MailChimp: the OAuth 2 connect (authorize URL, code → token → account metadata), the Marketing
API calls we make (`MailchimpClient`: audiences, an audience's webhooks) and the webhook POSTs
MailChimp sends us (`parse_webhook_event`), with the message a group reads (`event_text`).

Parsers raise only `MailchimpPayloadError`, naming what is wrong. The client raises only
`MailchimpApiFailure`, whose `kind` tells the caller what to do: `rate_limited` (retry after
`retry_after` seconds), `transient` (retry later) or `permanent` (give up: the token, the audience
or the request is no good). The client speaks HTTP through the standard library (the Lambda bundle
stays lean), and `urllib.request` / `http.client` are imported on the first call only: requests
that never talk to MailChimp do not pay for them on a cold start. A token never reaches a message,
a log or a `repr`: it travels in the Authorization header only, redirects are not followed (urllib
would carry that header to the new host), and a `detail` that quotes it is scrubbed."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from chalicelib.integrations.payloads import PayloadReader

if TYPE_CHECKING:
    from urllib.request import OpenerDirector, Request

EVENT_TYPES = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")
SOURCES = ("user", "admin", "api")
MAX_BODY_BYTES = 64 * 1024  # a webhook POST is under 2 KiB, even with many merge fields
MAX_FORM_FIELDS = 200
MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # 1000 audiences of three fields are ~100 KiB
MAX_TEXT_CHARS = 500
PAGE_SIZE = 1000  # the Marketing API's largest `count`
DEFAULT_RETRY_AFTER = 1.0
AUDIENCE_FIELDS = "lists.id,lists.name,lists.stats.member_count,total_items"

# Answers of the OAuth endpoints (RFC 6749 §5.2) that say "try again later".
TRANSIENT_OAUTH_ERRORS = frozenset({"server_error", "temporarily_unavailable"})

# Subscriber events name a person by address; upemail by its new one; campaign events by the campaign.
_REQUIRED = {
    "subscribe": "data[email]",
    "unsubscribe": "data[email]",
    "profile": "data[email]",
    "cleaned": "data[email]",
    "upemail": "data[new_email]",
    "campaign": "data[id]",
}
_NOT_A_CODE = re.compile(r"[^a-z0-9]+")
_OAUTH_ERROR = re.compile(r"[a-z0-9_]{1,64}")
# Line breaks, other control characters and bidi overrides: a name or subject must not be able to
# forge a second line or reorder the message around it.
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")

FailureKind = Literal["permanent", "transient", "rate_limited"]
T = TypeVar("T")


class MailchimpPayloadError(ValueError):
    """A body that is not what MailChimp sends; the message names what is wrong."""


class MailchimpApiFailure(Exception):
    """MailChimp refused a call (an HTTP error, an answer we cannot read) or could not be reached.

    `error` is a short machine string (MailChimp's problem `title` snake_cased, an OAuth error code,
    `token_rejected`, `resource_not_found`, `http_503`, `connection_error`, `timeout`,
    `invalid_response`); `detail` is MailChimp's own explanation, for people; `status` the HTTP
    status when there was one."""

    def __init__(
        self,
        error: str,
        kind: FailureKind,
        *,
        status: int | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"MailChimp API call failed: {error} ({kind}{f', HTTP {status}' if status else ''})")
        self.error = error
        self.kind: FailureKind = kind
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind != "permanent"


# --- the connect ---------------------------------------------------------------------------------


def authorize_url(login_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the admin to connect an account (https://login.mailchimp.com/oauth2/authorize)."""
    query = urlencode(
        {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{login_url.rstrip('/')}/oauth2/authorize?{query}"


@dataclass(frozen=True)
class MailchimpAccount:
    """A connected account: the token (MailChimp's do not expire) and where its API lives."""

    token: str = field(repr=False)
    dc: str
    api_endpoint: str  # e.g. https://us1.api.mailchimp.com, without a trailing slash
    account_name: str | None
    login_email: str | None


@dataclass(frozen=True)
class Audience:
    """A MailChimp audience (a "list" in the API)."""

    id: str
    name: str
    member_count: int


@dataclass(frozen=True)
class RemoteWebhook:
    """A webhook registered on an audience; `events` and `sources` hold the names set true."""

    id: str
    list_id: str
    url: str
    events: frozenset[str]
    sources: frozenset[str]


def parse_access_token(answer: Mapping[str, Any]) -> str:
    """The access token of /oauth2/token's answer."""
    return _required_string(answer, "access_token")


def parse_account(token: str, metadata: Mapping[str, Any]) -> MailchimpAccount:
    """/oauth2/metadata's answer for `token` as a MailchimpAccount."""
    login = _optional_object(metadata, "login") or {}
    return MailchimpAccount(
        token=token,
        dc=_required_string(metadata, "dc"),
        api_endpoint=_endpoint_root(_required_string(metadata, "api_endpoint")),
        account_name=_optional_string(metadata, "accountname") or None,
        login_email=_optional_string(login, "login_email", at="login.") or None,
    )


def parse_remote_webhook(data: Mapping[str, Any], list_id: str | None = None) -> RemoteWebhook:
    """A Marketing API webhook object (`list_id` for an object that does not carry its own)."""
    return RemoteWebhook(
        id=_required_string(data, "id"),
        list_id=_optional_string(data, "list_id") or _present(list_id, "list_id"),
        url=_required_string(data, "url"),
        events=_flags(data, "events"),
        sources=_flags(data, "sources"),
    )


def _flags(data: Mapping[str, Any], key: str) -> frozenset[str]:
    flags = _optional_object(data, key) or {}
    return frozenset(name for name, value in flags.items() if value is True)


def _present(value: str | None, name: str) -> str:
    if not value:
        raise MailchimpPayloadError(f"{name} is missing")
    return value


# --- what MailChimp sends us ---------------------------------------------------------------------


@dataclass(frozen=True)
class MailchimpEvent:
    """A webhook POST: a subscriber event (subscribe, unsubscribe, profile, upemail, cleaned) or
    a campaign's sending status. `email` is the subscriber's address (for upemail, the new one)."""

    type: str
    fired_at: str  # as sent: "2009-03-26 21:35:57" (UTC)
    list_id: str
    email: str | None = None
    old_email: str | None = None
    new_email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    reason: str | None = None  # unsubscribe: manual | abuse; cleaned: hard | abuse
    action: str | None = None  # unsubscribe: unsub | delete
    campaign_id: str | None = None
    subject: str | None = None
    status: str | None = None  # campaign: sent, canceled...

    @property
    def dedupe_key(self) -> str:
        """The same for every delivery of one event (MailChimp retries for 75 minutes), different
        for two events: SHA-256 hex of type, fired_at, list_id and who or what it is about."""
        subject = self.email or self.new_email or self.campaign_id or ""
        parts = (self.type, self.fired_at, self.list_id, subject)
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def parse_webhook_event(body: bytes) -> MailchimpEvent:
    """MailChimp's webhook POST body (application/x-www-form-urlencoded, bracketed keys)."""
    form = _form_fields(body)
    kind = _required_string(form, "type")
    if kind not in EVENT_TYPES:
        raise MailchimpPayloadError(f"type is {kind!r}, not one of {', '.join(EVENT_TYPES)}")
    fired_at = _required_string(form, "fired_at")
    list_id = _required_string(form, "data[list_id]")
    _required_string(form, _REQUIRED[kind])

    def text(key: str) -> str | None:
        return form.get(f"data[{key}]") or None

    new_email = text("new_email")
    return MailchimpEvent(
        type=kind,
        fired_at=fired_at,
        list_id=list_id,
        email=new_email if kind == "upemail" else text("email"),
        old_email=text("old_email"),
        new_email=new_email,
        first_name=form.get("data[merges][FNAME]") or None,
        last_name=form.get("data[merges][LNAME]") or None,
        reason=text("reason"),
        action=text("action"),
        campaign_id=text("id") if kind == "campaign" else text("campaign_id"),
        subject=text("subject"),
        status=text("status"),
    )


def event_text(event: MailchimpEvent, list_name: str) -> str:
    """The message a group reads, under 500 characters; names, subjects and addresses come from
    MailChimp's side and are cleaned of line breaks and control characters and cut to length."""
    audience = _clean(list_name, 100) or _clean(event.list_id, 40)
    if event.type == "campaign":
        return _fit(_campaign_text(event, audience))
    who = _who(event)
    if event.type == "subscribe":
        return _fit(f"{who} subscribed to {audience}")
    if event.type == "unsubscribe":
        verb = "was deleted from" if event.action == "delete" else "unsubscribed from"
        reason = {"abuse": "abuse report"}.get(event.reason or "", _clean(event.reason, 40))
        return _fit(f"{who} {verb} {audience}{f' (reason: {reason})' if reason else ''}")
    if event.type == "profile":
        return _fit(f"{who} updated their profile in {audience}")
    if event.type == "upemail":
        new = _clean(event.new_email, 120)
        if event.old_email:
            return _fit(f"{_clean(event.old_email, 120)} changed email to {new} in {audience}")
        return _fit(f"A subscriber changed email to {new} in {audience}")
    # cleaned
    reason = {"hard": "hard bounce", "abuse": "abuse report"}.get(
        event.reason or "", _clean(event.reason, 40)
    )
    return _fit(f"{who} was cleaned from {audience}{f' ({reason})' if reason else ''}")


def _campaign_text(event: MailchimpEvent, audience: str) -> str:
    subject = _clean(event.subject, 150)
    campaign = f'Campaign "{subject}"' if subject else f"Campaign {_clean(event.campaign_id, 40)}"
    status = _clean(event.status, 40)
    if status == "sent":
        return f"{campaign} was sent to {audience}"
    return f"{campaign} is {status} for {audience}" if status else f"{campaign} changed for {audience}"


def _who(event: MailchimpEvent) -> str:
    email = _clean(event.email, 120)
    name = " ".join(part for part in (_clean(event.first_name, 60), _clean(event.last_name, 60)) if part)
    return f"{name} <{email}>" if name else email


def _clean(value: str | None, limit: int) -> str:
    text = _SPACES.sub(" ", _UNSAFE_TEXT.sub(" ", value or "")).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fit(text: str) -> str:
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


# --- the Marketing API ---------------------------------------------------------------------------


def api_failure(
    status: int, headers: Mapping[str, object], body: bytes, *, oauth: bool = False
) -> MailchimpApiFailure:
    """What a refused call means for the caller. The Marketing API answers problem JSON
    (`title`, `detail`); the OAuth endpoints (`oauth=True`) answer `error`, `error_description`."""
    problem = _json_or_none(body) or {}
    code: str | None = None
    if oauth:
        error, detail = problem.get("error"), problem.get("error_description")
        code = error if isinstance(error, str) and _OAUTH_ERROR.fullmatch(error) else None
    else:
        detail = problem.get("detail")
    detail = detail if isinstance(detail, str) else ""
    if status == 429:
        error = code or _snake(problem.get("title")) or "http_429"
        retry_after = retry_after_seconds(headers)
        return MailchimpApiFailure(
            error, "rate_limited", status=status, detail=detail, retry_after=retry_after
        )
    if code is not None:
        transient = code in TRANSIENT_OAUTH_ERRORS or status >= 500
        return MailchimpApiFailure(
            code, "transient" if transient else "permanent", status=status, detail=detail
        )
    if status >= 500:
        return MailchimpApiFailure(f"http_{status}", "transient", status=status, detail=detail)
    if status in (401, 403) and not oauth:
        return MailchimpApiFailure("token_rejected", "permanent", status=status, detail=detail)
    if status == 404:
        return MailchimpApiFailure("resource_not_found", "permanent", status=status, detail=detail)
    error = _snake(problem.get("title")) or f"http_{status}"
    return MailchimpApiFailure(error, "permanent", status=status, detail=detail)


def retry_after_seconds(headers: Mapping[str, object]) -> float:
    """The `Retry-After` header of a 429, in seconds; 1 when absent or not a number."""
    value = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    try:
        seconds = float(value) if isinstance(value, str) else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_RETRY_AFTER


def _snake(title: object) -> str:
    """ "Resource Not Found" → resource_not_found."""
    return _NOT_A_CODE.sub("_", title.lower()).strip("_")[:64] if isinstance(title, str) else ""


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class MailchimpClient:
    """MailChimp's OAuth endpoints (on `login_url`) and Marketing API (on an account's
    `api_endpoint`), one HTTP request a call, none retried here: the caller retries through its
    queue, after `retry_after` for a 429."""

    def __init__(self, login_url: str, timeout: float = 5.0) -> None:
        self._login_url = login_url.rstrip("/")
        self._timeout = timeout
        self._opener: OpenerDirector | None = None

    # --- the connect -----------------------------------------------------------------------------

    def connect(self, client_id: str, client_secret: str, code: str, redirect_uri: str) -> MailchimpAccount:
        """Trades the code the authorize redirect brought for a token, then reads the account's
        metadata (its data center and API endpoint)."""
        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        answer = self._call(
            "POST", f"{self._login_url}/oauth2/token", form=form, oauth=True, secret=client_secret
        )
        token = _read(lambda: parse_access_token(answer))
        metadata = self._call("GET", f"{self._login_url}/oauth2/metadata", token=token, oauth=True)
        return _read(lambda: parse_account(token, metadata))

    # --- audiences and their webhooks ------------------------------------------------------------

    def audiences(self, token: str, api_endpoint: str) -> list[Audience]:
        """Every audience of the account, over as many pages as it takes."""
        base = _api_base(api_endpoint)
        found: list[Audience] = []
        while True:
            query = urlencode({"count": PAGE_SIZE, "offset": len(found), "fields": AUDIENCE_FIELDS}, safe=",")
            page = self._call("GET", f"{base}/3.0/lists?{query}", token=token)
            lists = page.get("lists")
            total = page.get("total_items")
            if not isinstance(lists, list) or not isinstance(total, int) or isinstance(total, bool):
                raise MailchimpApiFailure(
                    "invalid_response", "permanent", detail="lists or total_items is missing"
                )
            found += _read(partial(_audiences, lists))
            if not lists or len(found) >= total:
                return found

    def webhooks(self, token: str, api_endpoint: str, list_id: str) -> list[RemoteWebhook]:
        answer = self._call("GET", _webhooks_url(api_endpoint, list_id), token=token)
        hooks = answer.get("webhooks")
        if not isinstance(hooks, list):
            raise MailchimpApiFailure("invalid_response", "permanent", detail="webhooks is missing")
        return _read(lambda: [parse_remote_webhook(_object(hook), list_id) for hook in hooks])

    def create_webhook(
        self, token: str, api_endpoint: str, list_id: str, url: str, events: Collection[str]
    ) -> RemoteWebhook:
        """Registers `url` for `events` (names of EVENT_TYPES) from every source. MailChimp checks
        the URL first with a GET that must answer 200."""
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown MailChimp event types: {', '.join(unknown)}")
        payload = {
            "url": url,
            "events": {kind: kind in events for kind in EVENT_TYPES},
            "sources": dict.fromkeys(SOURCES, True),
        }
        answer = self._call("POST", _webhooks_url(api_endpoint, list_id), token=token, payload=payload)
        return _read(lambda: parse_remote_webhook(answer, list_id))

    def delete_webhook(self, token: str, api_endpoint: str, list_id: str, webhook_id: str) -> None:
        """Removes a webhook; one already gone (404) is fine."""
        url = f"{_webhooks_url(api_endpoint, list_id)}/{quote(webhook_id, safe='')}"
        try:
            self._call("DELETE", url, token=token)
        except MailchimpApiFailure as failure:
            if failure.error != "resource_not_found":
                raise

    # --- HTTP ------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        form: Mapping[str, str] | None = None,
        payload: object = None,
        oauth: bool = False,
        secret: str | None = None,
    ) -> dict[str, Any]:
        """One request; the answer's JSON object ({} for an empty 2xx body)."""
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if token is not None:
            headers["Authorization"] = f"OAuth {token}"
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        answer = self._send(method, url, headers, data)
        if not 200 <= answer.status < 300:
            failure = api_failure(answer.status, answer.headers, answer.body, oauth=oauth)
            failure.detail = _scrub(failure.detail, token, secret)
            raise failure
        if not answer.body.strip():
            return {}
        result = _json_or_none(answer.body)
        if result is None:
            raise MailchimpApiFailure(
                "invalid_response", "permanent", status=answer.status, detail="not a JSON object"
            )
        return result

    def _send(self, method: str, url: str, headers: Mapping[str, str], data: bytes | None) -> _Answer:
        from http.client import HTTPException
        from urllib.error import URLError
        from urllib.request import Request

        request = Request(url, data=data, headers=dict(headers), method=method)  # noqa: S310 (http(s): _api_base)
        try:
            return self._exchange(request)
        except _TooLarge:
            raise MailchimpApiFailure(
                "invalid_response", "permanent", detail="the answer is too large"
            ) from None
        except URLError as err:  # before OSError, its base: the reason says what went wrong
            raise MailchimpApiFailure(_connection_error(err.reason), "transient") from None
        except (OSError, HTTPException) as err:  # timeouts while reading, resets, broken replies
            raise MailchimpApiFailure(_connection_error(err), "transient") from None

    def _exchange(self, request: Request) -> _Answer:
        from urllib.error import HTTPError

        response: Any
        try:
            response = self._client().open(request, timeout=self._timeout)
        except HTTPError as err:  # 3xx (not followed), 4xx, 5xx: the error is the response
            response = err
        with response:
            return _Answer(response.status, dict(response.headers.items()), _bounded(response))

    def _client(self) -> OpenerDirector:
        if self._opener is None:
            from urllib.request import HTTPRedirectHandler, build_opener

            class NoRedirects(HTTPRedirectHandler):
                def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                    return None  # the 3xx comes back as an HTTPError

            self._opener = build_opener(NoRedirects())
        return self._opener


class _TooLarge(Exception):
    pass


def _bounded(response: Any) -> bytes:
    body: bytes = response.read(MAX_RESPONSE_BYTES + 1)
    if len(body) > MAX_RESPONSE_BYTES:
        raise _TooLarge
    return body


def _connection_error(reason: object) -> str:
    return "timeout" if isinstance(reason, TimeoutError) else "connection_error"


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:1000]


def _read(parse: Callable[[], T]) -> T:
    """Runs a parser over an answer; what it cannot read is MailChimp's fault, not the caller's."""
    try:
        return parse()
    except MailchimpPayloadError as err:
        raise MailchimpApiFailure("invalid_response", "permanent", detail=str(err)) from None


def _audiences(items: list[Any]) -> list[Audience]:
    return [_audience(item) for item in items]


def _audience(item: object) -> Audience:
    data = _object(item)
    stats = _optional_object(data, "stats", at="lists[].") or {}
    count = stats.get("member_count", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise MailchimpPayloadError("lists[].stats.member_count must be a count")
    return Audience(
        id=_required_string(data, "id", at="lists[]."),
        name=_optional_string(data, "name", at="lists[].") or "",
        member_count=count,
    )


def _webhooks_url(api_endpoint: str, list_id: str) -> str:
    if not list_id:
        raise ValueError("list_id is empty")
    return f"{_api_base(api_endpoint)}/3.0/lists/{quote(list_id, safe='')}/webhooks"


def _api_base(api_endpoint: str) -> str:
    return _read(lambda: _endpoint_root(api_endpoint))


def _endpoint_root(api_endpoint: str) -> str:
    """An account's API root, checked: http(s), a host, no path, query or credentials."""
    parts = urlsplit(api_endpoint)
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise MailchimpPayloadError("api_endpoint is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


# --- reading payloads ----------------------------------------------------------------------------


def _json_or_none(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _object(value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MailchimpPayloadError("an item is not an object")
    return value


_PAYLOAD = PayloadReader(MailchimpPayloadError, MAX_BODY_BYTES, MAX_FORM_FIELDS)
_form_fields = _PAYLOAD.form
_optional_string = _PAYLOAD.optional_string
_required_string = _PAYLOAD.required_string
_optional_object = _PAYLOAD.optional_object
