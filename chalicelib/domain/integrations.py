"""Integrations of a group with outside services (API.md §4 services page, §6): the nouns and
the rules that need no AWS and no HTTP."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Service(StrEnum):
    SLACK = "slack"
    MAILCHIMP = "mailchimp"


class IntegrationStatus(StrEnum):
    PENDING_AUTH = "pending_auth"
    CONNECTED = "connected"  # MailChimp: authorized, no audience chosen yet
    ACTIVE = "active"
    ERROR = "error"


MAX_DISPLAY_NAME = 80  # Slack's limit on a message's `username`
MAILCHIMP_NAME = "MailChimp"  # what MailChimp's messages are posted as
# The events of an audience a MailChimp webhook can report, all chosen unless the admin says.
MAILCHIMP_EVENTS = ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign")
MAX_MAILCHIMP_LISTS = 50  # audiences one group follows: a choice makes a few MailChimp calls each
SLACK_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")

# Delivery to Slack (the relay job): retries of a transient failure wait longer each time, within
# what SQS can delay a message (15 minutes); after the last one the message is given up.
RELAY_MAX_ATTEMPTS = 8
MAX_QUEUE_DELAY = 900
# How long a delivery holds a message before another delivery may take it over (a crashed one).
RELAY_LEASE_SECONDS = 60
# How long the markers that make deliveries idempotent are kept (longer than any retry path).
RELAY_MARKER_DAYS = 3


@dataclass(frozen=True)
class ListHook:
    """A MailChimp audience the group follows, and our webhook on it at MailChimp."""

    list_id: str
    name: str
    webhook_id: str


@dataclass(frozen=True)
class Integration:
    """One service connected to one group. A Slack integration is `pending_auth` until the group
    admin has authorized the Slack app, then `active`; `error` when Slack refused our token or
    channel for good (`error` says why; authorizing again makes it active)."""

    id: str
    domain: str
    group_id: str
    service: Service
    status: IntegrationStatus
    display_name: str
    hook_salt: str  # with the app's key, gives the webhook URL's secret (never stored)
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int = 0
    team_id: str | None = None
    team_name: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    bot_user_id: str | None = None
    token_ciphertext: bytes | None = None  # the bot's (Slack) or account's (MailChimp) token, KMS
    error: str | None = None
    api_endpoint: str | None = None  # MailChimp: the account's data centre's API
    account_name: str | None = None  # MailChimp
    lists: tuple[ListHook, ...] = ()  # MailChimp: the audiences chosen, each with our webhook
    events: tuple[str, ...] = ()  # MailChimp: the events its webhooks report
    retention_days: int | None = None  # the domain's: what the group's messages from outside keep

    @property
    def relays_out(self) -> bool:
        """Messages of the group go out to Slack: authorized, and a channel to post to."""
        return (
            self.status is IntegrationStatus.ACTIVE and bool(self.channel_id) and bool(self.token_ciphertext)
        )


@dataclass(frozen=True)
class HookTarget:
    """What a webhook or event needs to post into a group, kept on its lookup item (by the
    webhook secret's hash, or by Slack team and channel) so that one read finds it."""

    domain: str
    group_id: str
    integration_id: str
    display_name: str
    lists: Mapping[str, str] = field(default_factory=dict)  # MailChimp: audience id -> name
    retention_days: int | None = None  # the domain's (HIPAA: 7): the messages it posts expire


def check_display_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > MAX_DISPLAY_NAME:
        raise ValueError(f"must be at most {MAX_DISPLAY_NAME} characters")
    return name


def relay_retry_delay(attempt: int) -> int:
    """Seconds before retry number `attempt` (1, 2, ...) of a transient failure: 5, 10, 20, ...
    up to SQS's 15 minutes."""
    return min(MAX_QUEUE_DELAY, 5 << min(max(0, attempt - 1), 16))


def slack_text(text: str) -> str:
    """Slack escapes &, < and > in message text (its mrkdwn); a group shows plain text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
