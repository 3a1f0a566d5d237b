"""The Slack integration of a group (API.md §6): set-up and OAuth, Slack → group (outgoing
webhooks and the Events API), group → Slack (the `slack_relay` job).

Set-up: a group admin creates it (`pending_auth`, with its webhook URL and Slack's authorize
URL), authorizes our Slack app (the callback stores the bot token encrypted with KMS and the
channel Slack's install screen chose: `active`), and may rename it or change its channel.

Slack → group: a message reaches the group through the integration's webhook URL (the secret
finds it) or through the Events API (team and channel find it). Either costs two AWS calls: one
read of the lookup item, one transaction that writes the message with a marker of the Slack
message (a retry, or the same message by both ways, finds the marker and is dropped) and checks
that the service is on and the integration still there. Bots' messages, ours included, are
never posted (no loops).

Group → Slack: a person's post enqueues one job message (the post's only extra call); the
delivery posts it with chat.postMessage under the poster's name, once (a relay marker with a
lease), retrying a 429 after its Retry-After and other transient failures with backoff through
the queue's delay; a permanent refusal marks the integration `error`, with Slack's reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.core import ids
from chalicelib.core.aws import secret_setting
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import BadGateway, Conflict, InvalidField, NotFound, Unauthorized
from chalicelib.core.log import get_logger
from chalicelib.domain.integrations import (
    RELAY_LEASE_SECONDS,
    RELAY_MAX_ATTEMPTS,
    SLACK_CHANNEL_ID,
    HookTarget,
    Integration,
    IntegrationStatus,
    Service,
    check_display_name,
    relay_retry_delay,
    slack_text,
)
from chalicelib.domain.models import Conversation, DomainStatus, Message, Principal, Retention, Via
from chalicelib.integrations import slack
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.repositories.jobs import JobQueue
from chalicelib.repositories.messages import MessageRepository
from chalicelib.repositories.secrets import SecretBox
from chalicelib.services.integrations import (
    AuthorizationStart,
    IntegrationService,
    OAuthOutcome,
    OAuthStates,
    hook_secret,
    redirect_uri,
    refused,
    token_owner,
)
from chalicelib.services.transaction import Transaction

log = get_logger(__name__)

RELAY_JOB = "slack_relay"


@dataclass(frozen=True)
class SlackChanges:
    display_name: str | None
    channel_id: str | None


@dataclass(frozen=True)
class SlackApp:
    """Our Slack app's credentials, from configuration (SSM in AWS for the secrets)."""

    client_id: str | None
    client_secret: str | None
    signing_secret: str | None

    @staticmethod
    def from_settings() -> SlackApp:
        settings = get_settings()
        return SlackApp(
            client_id=settings.slack_client_id,
            client_secret=secret_setting(
                settings.slack_client_secret, settings.slack_client_secret_ssm_param
            ),
            signing_secret=secret_setting(
                settings.slack_signing_secret, settings.slack_signing_secret_ssm_param
            ),
        )


class SlackIntegrations:
    """The group admin's side: create, read, change, delete, authorize."""

    def __init__(
        self,
        table: Table,
        integrations: IntegrationRepository,
        base: IntegrationService,
        states: OAuthStates,
        box: SecretBox,
        client: Callable[[], slack.SlackClient],
        app: Callable[[], SlackApp],
        clock: Clock,
    ) -> None:
        self._table = table
        self._integrations = integrations
        self._base = base
        self._states = states
        self._box = box
        self._client = client
        self._app = app
        self._clock = clock

    def create(self, principal: Principal, group_id: str, read_name: Callable[[], str]) -> Integration:
        return self._base.create(principal, group_id, Service.SLACK, lambda: _display_name(read_name()))

    def get(self, principal: Principal, group_id: str) -> Integration:
        return self._base.find(principal, group_id, Service.SLACK)

    def update(self, principal: Principal, group_id: str, read: Callable[[], SlackChanges]) -> Integration:
        current = self.get(principal, group_id)
        changes = read()
        changed = current
        if changes.display_name is not None:
            changed = replace(changed, display_name=_display_name(changes.display_name))
        tx = Transaction(self._table)
        if changes.channel_id is not None and changes.channel_id != current.channel_id:
            changed = self._move_channel(tx, current, changed, changes.channel_id)
        changed = replace(changed, version=current.version + 1, updated_at=self._clock.now())
        tx.add(self._integrations.save_op(changed, current.version), on_condition_failed=_concurrent())
        moved = changed.channel_id != current.channel_id  # the claim of the new channel wrote its lookup
        tx.add(*self._integrations.lookup_ops(changed, hook_secret(changed), with_channel=not moved))
        tx.add(self._base.integration_audit_op(principal, "updated", changed, **_change_details(changes)))
        tx.commit()
        return changed

    def _move_channel(
        self, tx: Transaction, current: Integration, changed: Integration, channel_id: str
    ) -> Integration:
        if not SLACK_CHANNEL_ID.match(channel_id):
            raise InvalidField(
                "channel_id", "must be a Slack channel id such as C0123ABCDEF", "invalid_channel_id"
            )
        if current.team_id is None or current.token_ciphertext is None:
            raise Conflict(
                "Authenticate with Slack first: the channel belongs to the workspace you authorize.",
                "not_authorized",
            )
        name = self._channel_name(current, channel_id)
        release = self._integrations.release_channel_op(current)
        if release:
            tx.add(release)
        moved = replace(changed, channel_id=channel_id, channel_name=name, error=None)
        if moved.status is IntegrationStatus.ERROR and moved.token_ciphertext:
            moved = replace(moved, status=IntegrationStatus.ACTIVE)  # a new channel is worth a try
        tx.add(self._integrations.claim_channel_op(moved), on_condition_failed=_channel_in_use())
        return moved

    def _channel_name(self, integration: Integration, channel_id: str) -> str:
        """The channel's name, asked of Slack with the bot's token (conversations.info): a
        channel the workspace does not have, or the bot may not see, is refused now, not at the
        first delivery."""
        assert integration.token_ciphertext is not None
        token = self._box.decrypt(integration.token_ciphertext, token_owner(integration))
        try:
            return self._client().channel_name(token, channel_id)
        except slack.SlackApiFailure as failure:
            if failure.kind != "permanent":
                raise BadGateway(
                    "Slack did not answer; try again in a moment.", "slack_unavailable"
                ) from None
            if failure.error == "channel_not_found":
                raise InvalidField(
                    "channel_id",
                    "is not a channel of the Slack workspace you authorized",
                    "channel_not_found",
                ) from None
            raise Conflict(
                f"Slack refused the integration's token ({failure.error}); authenticate with Slack again.",
                "slack_refused",
            ) from None

    def delete(self, principal: Principal, group_id: str) -> None:
        integration = self.get(principal, group_id)
        tx = Transaction(self._table)
        tx.add(
            *self._integrations.delete_ops(integration, hook_secret(integration), integration.version),
            on_condition_failed=_concurrent(),
        )
        tx.add(self._base.integration_audit_op(principal, "deleted", integration))
        tx.commit()

    def authorize_url(self, integration: Integration) -> str | None:
        """Slack's authorize URL for this integration, with a fresh state (OAuthStates); None
        while our Slack app is not configured."""
        client_id = self._app().client_id
        if not client_id:
            return None
        state = self._states.issue(integration)
        return slack.authorize_url(
            get_settings().slack_authorize_url, client_id, redirect_uri(Service.SLACK), state
        )

    # --- the OAuth callback -------------------------------------------------------------------------

    def complete_oauth(self, code: str | None, state: str | None, error: str | None) -> OAuthOutcome:
        """The end of "Authenticate with Slack". A bad, used or expired state, or a denied
        authorization, changes nothing (400); so does a code Slack refuses."""
        start, outcome = self._states.open(Service.SLACK, code, state, error)
        if start is None or code is None:
            return outcome or refused("Slack sent no authorization code.")
        return self._connect(start, code, self._clock.now())

    def _connect(self, start: AuthorizationStart, code: str, now: datetime) -> OAuthOutcome:
        integration = start.integration
        app = self._app()
        if not (app.client_id and app.client_secret):
            return OAuthOutcome(503, "Slack is not set up", "This server has no Slack app configured.")
        try:
            grant = self._client().exchange_code(
                app.client_id, app.client_secret, code, redirect_uri(Service.SLACK)
            )
        except slack.SlackApiFailure as failure:
            status = 400 if failure.kind == "permanent" else 502  # a refused code; Slack unwell
            return OAuthOutcome(
                status, "Slack refused", f"Slack answered {failure.error}; nothing was connected."
            )
        owner = token_owner(integration)
        connected = replace(
            integration,
            status=IntegrationStatus.ACTIVE,
            team_id=grant.team_id,
            team_name=grant.team_name,
            channel_id=grant.channel_id
            or (integration.channel_id if integration.team_id == grant.team_id else None),
            channel_name=grant.channel_name,
            bot_user_id=grant.bot_user_id,
            token_ciphertext=self._box.encrypt(grant.bot_token, owner),
            error=None,
            version=integration.version + 1,
            updated_at=now,
        )
        tx = Transaction(self._table)
        tx.add(self._states.use_op(start))
        tx.add(self._integrations.save_op(connected, integration.version))
        if integration.channel_id != connected.channel_id or integration.team_id != connected.team_id:
            release = self._integrations.release_channel_op(integration)
            if release:
                tx.add(release)
        if connected.channel_id:
            tx.add(self._integrations.claim_channel_op(connected), on_condition_failed=_channel_in_use())
        try:
            tx.commit()
        except Conflict as conflict:
            if conflict.code == "channel_in_use":
                return OAuthOutcome(409, "Channel already connected", conflict.message)
            return refused("This authorization link was already used, or the integration changed meanwhile.")
        channel = connected.channel_name or connected.channel_id or "no channel yet"
        return OAuthOutcome(200, "Connected to Slack", f"{grant.team_name or grant.team_id}: {channel}.")


class SlackInbound:
    """Slack → group: the outgoing webhook and the Events API receivers."""

    def __init__(
        self,
        table: Table,
        integrations: IntegrationRepository,
        domains: DomainRepository,
        messages: MessageRepository,
        app: Callable[[], SlackApp],
        clock: Clock,
    ) -> None:
        self._table = table
        self._integrations = integrations
        self._domains = domains
        self._messages = messages
        self._app = app
        self._clock = clock

    def from_outgoing_webhook(self, secret: str, body: bytes) -> None:
        """An outgoing webhook's POST. 404 for a secret we do not know or a service turned
        off; a bot's message, or one already posted, is accepted and dropped."""
        target = self._integrations.find_by_hook(Service.SLACK, secret) if _plausible_secret(secret) else None
        if target is None:
            raise _unknown_hook()
        try:
            hook = slack.parse_outgoing_webhook(body)
        except slack.SlackPayloadError as bad:
            raise InvalidField("body", str(bad), "invalid_payload") from None
        if hook.from_bot or not hook.text.strip():
            return
        via = Via("slack", hook.user_name or hook.user_id or "Slack", target.display_name)
        if not self._post(target, via, hook.text, hook.channel_id, hook.timestamp or ""):
            raise _unknown_hook()

    def from_events_api(self, body: bytes, timestamp: str | None, signature: str | None) -> dict[str, Any]:
        """An Events API request: signed with our app's signing secret (401 otherwise), a
        url_verification (answered with its challenge), or an event_callback. Events of
        channels no group is connected to, of bots, or already posted are accepted and dropped:
        this endpoint is every domain's, and Slack turns off an app whose events keep failing."""
        secret = self._app().signing_secret
        now = self._clock.now().timestamp()
        if not secret or not slack.verify_signature(secret, body, timestamp, signature, now):
            raise _invalid_signature()
        try:
            envelope = slack.parse_event(body)
        except slack.SlackPayloadError as bad:
            raise InvalidField("body", str(bad), "invalid_payload") from None
        if envelope.type == "url_verification":
            return {"challenge": envelope.challenge}
        event = envelope.event
        if envelope.type != "event_callback" or event is None or not event.is_person_message:
            return {}
        if not (envelope.team_id and event.channel and event.ts):
            return {}
        target = self._integrations.find_by_channel(envelope.team_id, event.channel)
        if target is not None:
            via = Via("slack", event.user_display_name or event.user or "Slack", target.display_name)
            self._post(target, via, event.text or "", event.channel, event.ts, team_id=envelope.team_id)
        return {}

    def _post(
        self, target: HookTarget, via: Via, text: str, channel_id: str, ts: str, team_id: str | None = None
    ) -> bool:
        """Writes the message with its marker, if the service is on and the integration still
        there (False otherwise). A duplicate (the marker exists) is True: it was posted."""
        now = self._clock.now()
        message = Message(
            id=ids.new_id(int(now.timestamp() * 1000)),
            conversation=Conversation.of_group(target.domain, target.group_id),
            author_id=target.integration_id,
            text=slack_text(text)[:40_000],
            file_ids=(),
            created_at=now,
            expires_at=Retention(target.retention_days).expires_at(now),
            via=via,
        )
        check = (
            self._integrations.channel_check_op(target, team_id, channel_id)
            if team_id
            else self._integrations.exists_check_op(target, Service.SLACK)
        )
        operations = [
            self._integrations.relayed_in_op(target, channel_id or "-", ts or message.id, now),
            self._messages.create_op(message),
            self._domains.service_on_check_op(target.domain, Service.SLACK.value),
            check,
        ]
        try:
            self._table.transact(operations)
        except ConditionFailed as failed:
            if not failed.failed:  # other transactions kept the items busy: Slack sends it again
                raise Conflict("The group was busy; send the message again.", "concurrent_change") from None
            return 0 in failed.failed  # the marker: posted already
        return True


class SlackRelay:
    """Group → Slack: enqueue a person's post, deliver it once (the `slack_relay` job)."""

    def __init__(
        self,
        table: Table,
        integrations: IntegrationRepository,
        domains: DomainRepository,
        messages: MessageRepository,
        queue: JobQueue,
        box: SecretBox,
        client: Callable[[], slack.SlackClient],
        clock: Clock,
    ) -> None:
        self._table = table
        self._integrations = integrations
        self._domains = domains
        self._messages = messages
        self._queue = queue
        self._box = box
        self._client = client
        self._clock = clock

    def after_post(self, principal: Principal, message: Message, integration: Integration | None) -> None:
        """Called once a person's group message is written: one SendMessage when the group's
        Slack integration is connected and the service on, nothing otherwise."""
        if integration is None or not integration.relays_out or Service.SLACK.value in principal.services_off:
            return
        self._send(
            {
                "kind": RELAY_JOB,
                "domain": principal.domain,
                "group_id": integration.group_id,
                "message_id": message.id,
                "username": principal.user.name or principal.user.email,
                "attempt": 1,
            }
        )

    def deliver(self, task: dict[str, Any]) -> None:
        """One delivery of a relay job. Idempotent: the message's relay marker is taken (new,
        or its lease expired) before Slack is called and marked sent after, so a second
        delivery of the same job finds it sent, or held by the first, and does nothing."""
        domain, group_id, message_id = str(task["domain"]), str(task["group_id"]), str(task["message_id"])
        integration, message, service_on, marker_state = self._read(domain, group_id, message_id)
        if integration is None or message is None or not service_on or not integration.relays_out:
            return  # disconnected, deleted, or turned off meanwhile: nothing to send
        if marker_state in {"sent", "failed"}:
            return
        now = self._clock.now()
        try:
            self._integrations.claim_relay_out(domain, group_id, message_id, now, RELAY_LEASE_SECONDS)
        except ConditionFailed:
            return  # sent, or another delivery holds it (if that one dies, its retry comes back)
        self._post(integration, message, task)

    def _read(
        self, domain: str, group_id: str, message_id: str
    ) -> tuple[Integration | None, Message | None, bool, str | None]:
        """The integration, the message, whether the service is on, the relay marker's state:
        one BatchGetItem."""
        conversation = Conversation.of_group(domain, group_id)
        integration_item, message_item, domain_item, marker = self._table.get_each(
            self._integrations.key(domain, group_id, Service.SLACK),
            self._messages.key(conversation, message_id),
            self._domains.key(domain),
            self._integrations.relay_out_key(domain, group_id, message_id),
        )
        tenant = self._domains.from_item(domain_item) if domain_item else None
        service_on = (
            tenant is not None
            and tenant.status is DomainStatus.ACTIVE
            and Service.SLACK.value not in tenant.services_off
        )
        return (
            self._integrations.from_item(integration_item) if integration_item else None,
            self._messages.from_item(message_item, conversation) if message_item else None,
            service_on,
            marker.get("state") if marker else None,
        )

    def _post(self, integration: Integration, message: Message, task: dict[str, Any]) -> None:
        assert integration.token_ciphertext and integration.channel_id
        domain, group_id, now = integration.domain, integration.group_id, self._clock.now()
        token = self._box.decrypt(integration.token_ciphertext, token_owner(integration))
        try:
            self._client().post_message(
                token, integration.channel_id, message.text, str(task.get("username") or "")
            )
        except slack.SlackApiFailure as failure:
            self._failed(integration, message, task, failure)
            return
        self._integrations.finish_relay_out(domain, group_id, message.id, "sent", now)

    def _failed(
        self, integration: Integration, message: Message, task: dict[str, Any], failure: slack.SlackApiFailure
    ) -> None:
        domain, group_id, now = integration.domain, integration.group_id, self._clock.now()
        attempt = int(task.get("attempt") or 1)
        fields = {"integration_id": integration.id, "error": failure.error, "attempt": attempt}
        if failure.kind == "permanent":
            log.warning("Slack refused the integration for good", extra={"fields": fields})
            self._integrations.finish_relay_out(domain, group_id, message.id, "failed", now)
            self._mark_error(integration, failure.error)
            return
        if attempt >= RELAY_MAX_ATTEMPTS:
            log.error("message to Slack given up after every retry", extra={"fields": fields})
            self._integrations.finish_relay_out(domain, group_id, message.id, "failed", now)
            return
        delay = relay_retry_delay(attempt)
        if failure.kind == "rate_limited":
            delay = max(1, math.ceil(failure.retry_after or 1))
        log.info("message to Slack retried later", extra={"fields": {**fields, "delay": delay}})
        self._integrations.finish_relay_out(domain, group_id, message.id, "retry", now)
        self._send({**task, "attempt": attempt + 1}, delay)

    def _mark_error(self, integration: Integration, reason: str) -> None:
        errored = replace(
            integration,
            status=IntegrationStatus.ERROR,
            error=reason,
            version=integration.version + 1,
            updated_at=self._clock.now(),
        )
        try:
            self._table.transact([self._integrations.save_op(errored, integration.version)])
        except ConditionFailed:
            log.info(
                "integration changed meanwhile; its error is not recorded",
                extra={"fields": {"integration_id": integration.id}},
            )

    def _send(self, task: dict[str, Any], delay: int = 0) -> None:
        self._queue.send(task, delay_seconds=min(delay, 900))


def _display_name(name: str) -> str:
    try:
        return check_display_name(name)
    except ValueError as bad:
        raise InvalidField("display_name", str(bad)) from None


def _change_details(changes: SlackChanges) -> dict[str, str]:
    details = {}
    if changes.display_name is not None:
        details["display_name"] = changes.display_name
    if changes.channel_id is not None:
        details["channel_id"] = changes.channel_id
    return details


def _plausible_secret(secret: str) -> bool:
    return 20 <= len(secret) <= 100 and secret.replace("-", "").replace("_", "").isalnum()


def _concurrent() -> Conflict:
    return Conflict(
        "The integration changed at the same moment; read it again and retry.", "concurrent_change"
    )


def _channel_in_use() -> Conflict:
    return Conflict(
        "This Slack channel is already connected to another Office Chat group; choose another channel.",
        "channel_in_use",
    )


def _unknown_hook() -> NotFound:
    return NotFound("There is no such webhook.", "webhook_not_found")


def _invalid_signature() -> Unauthorized:
    return Unauthorized("The request is not signed with our Slack app's signing secret.", "invalid_signature")
