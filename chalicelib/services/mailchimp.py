"""The MailChimp integration of a group (API.md §6): authorize, choose audiences, and hear
their events in the group.

Set-up: a group admin creates it (`pending_auth`, with MailChimp's authorize URL), authorizes
(the callback exchanges the code, asks MailChimp's metadata for the account's data centre, and
stores the token encrypted with KMS: `connected`), then chooses one or more audiences: we create
a webhook on each at MailChimp pointing at the integration's receiver URL, and remove ours from
audiences no longer chosen (`active` while at least one is followed). Nothing is set up by hand
on MailChimp's side. Deleting the integration removes our webhooks at MailChimp first.

MailChimp → group: each event is one readable message posted as "MailChimp". The receiver costs
two AWS calls: one read of the webhook's lookup item (which carries the audiences' names) and one
transaction writing the message with a marker of the event (a repeated delivery finds it) and
checking that the service is on and the audience still followed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.core import ids
from chalicelib.core.aws import secret_setting
from chalicelib.core.clock import Clock
from chalicelib.core.config import get_settings
from chalicelib.core.errors import BadGateway, Conflict, InvalidField, NotFound
from chalicelib.core.log import get_logger
from chalicelib.domain.integrations import (
    MAILCHIMP_EVENTS,
    MAILCHIMP_NAME,
    HookTarget,
    Integration,
    IntegrationStatus,
    ListHook,
    Service,
)
from chalicelib.domain.models import Conversation, DomainStatus, Message, Principal, Retention, Via
from chalicelib.integrations import mailchimp
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.repositories.messages import MessageRepository
from chalicelib.repositories.secrets import SecretBox
from chalicelib.services.integrations import (
    AuthorizationStart,
    IntegrationService,
    OAuthOutcome,
    OAuthStates,
    hook_secret,
    hook_url,
    redirect_uri,
    refused,
    token_owner,
)
from chalicelib.services.transaction import Transaction

log = get_logger(__name__)

Audience = mailchimp.Audience  # the account's audiences, as the API answers them


@dataclass(frozen=True)
class MailchimpApp:
    """Our MailChimp app's credentials, from configuration (SSM in AWS for the secret)."""

    client_id: str | None
    client_secret: str | None

    @staticmethod
    def from_settings() -> MailchimpApp:
        settings = get_settings()
        secret = secret_setting(settings.mailchimp_client_secret, settings.mailchimp_client_secret_ssm_param)
        return MailchimpApp(client_id=settings.mailchimp_client_id, client_secret=secret)


@dataclass(frozen=True)
class ListChoice:
    """The body of "choose the audiences": one or more audience ids, and the events to hear."""

    list_ids: list[str]
    events: list[str] | None


@dataclass(frozen=True)
class ListOutcome:
    """What a choice did to one audience at MailChimp: `created`, `kept` (our webhook was there),
    `removed`, or `failed` with MailChimp's reason (the rest of the choice still applies)."""

    list_id: str
    name: str | None
    outcome: str
    error: str | None = None


@dataclass(frozen=True)
class Removal:
    """What deleting the integration did at MailChimp: our webhooks removed, and those MailChimp
    would not let us remove (with why): the integration is deleted here either way."""

    removed: list[str]
    not_removed: list[ListOutcome]


class MailchimpIntegrations:
    """The group admin's side: create, read, authorize, choose audiences, delete."""

    def __init__(
        self,
        table: Table,
        integrations: IntegrationRepository,
        base: IntegrationService,
        states: OAuthStates,
        box: SecretBox,
        client: Callable[[], mailchimp.MailchimpClient],
        app: Callable[[], MailchimpApp],
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

    def create(self, principal: Principal, group_id: str) -> Integration:
        return self._base.create(
            principal, group_id, Service.MAILCHIMP, lambda: MAILCHIMP_NAME, events=MAILCHIMP_EVENTS
        )

    def get(self, principal: Principal, group_id: str) -> Integration:
        return self._base.find(principal, group_id, Service.MAILCHIMP)

    def authorize_url(self, integration: Integration) -> str | None:
        """MailChimp's authorize URL with a fresh state (OAuthStates); None while our MailChimp
        app is not configured."""
        client_id = self._app().client_id
        if not client_id:
            return None
        state = self._states.issue(integration)
        login = get_settings().mailchimp_login_url
        return mailchimp.authorize_url(login, client_id, redirect_uri(Service.MAILCHIMP), state)

    # --- the OAuth callback -------------------------------------------------------------------------

    def complete_oauth(self, code: str | None, state: str | None, error: str | None) -> OAuthOutcome:
        """The end of "Authenticate with MailChimp": the token, and the account's API endpoint
        (its data centre) from MailChimp's metadata. Nothing changes unless all of it worked."""
        start, outcome = self._states.open(Service.MAILCHIMP, code, state, error)
        if start is None or code is None:
            return outcome or refused("MailChimp sent no authorization code.")
        app = self._app()
        if not (app.client_id and app.client_secret):
            return OAuthOutcome(
                503, "MailChimp is not set up", "This server has no MailChimp app configured."
            )
        try:
            account = self._client().connect(
                app.client_id, app.client_secret, code, redirect_uri(Service.MAILCHIMP)
            )
        except mailchimp.MailchimpApiFailure as failure:
            status = 400 if failure.kind == "permanent" else 502
            return OAuthOutcome(
                status, "MailChimp refused", f"MailChimp answered {failure.error}; nothing was connected."
            )
        return self._connect(start, account, self._clock.now())

    def _connect(
        self, start: AuthorizationStart, account: mailchimp.MailchimpAccount, now: datetime
    ) -> OAuthOutcome:
        integration = start.integration
        connected = replace(
            integration,
            status=IntegrationStatus.ACTIVE if integration.lists else IntegrationStatus.CONNECTED,
            api_endpoint=account.api_endpoint,
            account_name=account.account_name,
            token_ciphertext=self._box.encrypt(account.token, token_owner(integration)),
            error=None,
            version=integration.version + 1,
            updated_at=now,
        )
        tx = Transaction(self._table)
        tx.add(self._states.use_op(start))
        tx.add(self._integrations.save_op(connected, integration.version))
        try:
            tx.commit()
        except Conflict:
            return refused("This authorization link was already used, or the integration changed meanwhile.")
        name = account.account_name or account.login_email or "your account"
        return OAuthOutcome(200, "Connected to MailChimp", f"{name}: now choose the audiences to follow.")

    # --- audiences --------------------------------------------------------------------------------

    def audiences(self, principal: Principal, group_id: str) -> list[mailchimp.Audience]:
        integration = self._authorized(self.get(principal, group_id))
        return self._audiences(integration)

    def choose(
        self, principal: Principal, group_id: str, read: Callable[[], ListChoice]
    ) -> tuple[Integration, list[ListOutcome]]:
        """Follows exactly the audiences chosen: a webhook of ours on each (created, or kept when
        MailChimp already has ours with these events), none on the others (ours removed; any
        other webhook of the audience left alone). Idempotent: the same choice again creates
        nothing. An audience MailChimp refuses is reported and the rest applies."""
        current_read = self.get(principal, group_id)
        choice = _checked_choice(read())  # the body before any 409, as the order of checks says
        integration = self._authorized(current_read)
        events = tuple(choice.events or MAILCHIMP_EVENTS)
        names = {a.id: a.name for a in self._audiences(integration)}
        token, endpoint = self._credentials(integration)
        url = hook_url(integration)
        current = {h.list_id: h for h in integration.lists}
        hooks: list[ListHook] = []
        outcomes: list[ListOutcome] = []
        for list_id in choice.list_ids:
            hook, outcome = self._follow(token, endpoint, list_id, names.get(list_id), url, events)
            outcomes.append(outcome)
            if hook is not None:
                hooks.append(hook)
        for list_id, hook in current.items():
            if list_id not in choice.list_ids:
                kept, outcome = self._unfollow(token, endpoint, hook)
                outcomes.append(outcome)
                hooks += [kept] if kept else []
        changed = self._save_choice(principal, integration, tuple(hooks), events, outcomes)
        return changed, outcomes

    def _follow(
        self, token: str, endpoint: str, list_id: str, name: str | None, url: str, events: tuple[str, ...]
    ) -> tuple[ListHook | None, ListOutcome]:
        if name is None:
            return None, ListOutcome(list_id, None, "failed", "list_not_found")
        client = self._client()
        try:
            ours = [w for w in client.webhooks(token, endpoint, list_id) if w.url == url]
            keep = next((w for w in ours if w.events == frozenset(events)), None)
            for extra in ours:  # ours with other events, or a second one (two choices at once)
                if extra is not keep:
                    client.delete_webhook(token, endpoint, list_id, extra.id)
            if keep is not None:
                return ListHook(list_id, name, keep.id), ListOutcome(list_id, name, "kept")
            created = client.create_webhook(token, endpoint, list_id, url, events)
        except mailchimp.MailchimpApiFailure as failure:
            log.warning(
                "MailChimp refused a webhook", extra={"fields": {"list_id": list_id, "error": failure.error}}
            )
            return None, ListOutcome(list_id, name, "failed", failure.detail or failure.error)
        return ListHook(list_id, name, created.id), ListOutcome(list_id, name, "created")

    def _unfollow(self, token: str, endpoint: str, hook: ListHook) -> tuple[ListHook | None, ListOutcome]:
        """Our webhook off an audience no longer chosen; one MailChimp keeps stays followed (a
        later choice tries again), so that no event it still sends is dropped unannounced."""
        try:
            self._client().delete_webhook(token, endpoint, hook.list_id, hook.webhook_id)
        except mailchimp.MailchimpApiFailure as failure:
            return hook, ListOutcome(hook.list_id, hook.name, "failed", failure.detail or failure.error)
        return None, ListOutcome(hook.list_id, hook.name, "removed")

    def _save_choice(
        self,
        principal: Principal,
        integration: Integration,
        hooks: tuple[ListHook, ...],
        events: tuple[str, ...],
        outcomes: list[ListOutcome],
    ) -> Integration:
        changed = replace(
            integration,
            lists=hooks,
            events=events,
            status=IntegrationStatus.ACTIVE if hooks else IntegrationStatus.CONNECTED,
            error=None,
            version=integration.version + 1,
            updated_at=self._clock.now(),
        )
        details = {o.list_id: o.outcome for o in outcomes}
        tx = Transaction(self._table)
        tx.add(self._integrations.save_op(changed, integration.version), on_condition_failed=_concurrent())
        tx.add(*self._integrations.lookup_ops(changed, hook_secret(changed)))
        tx.add(self._base.integration_audit_op(principal, "lists_chosen", changed, **details))
        tx.commit()
        return changed

    # --- delete ---------------------------------------------------------------------------------

    def delete(self, principal: Principal, group_id: str) -> Removal:
        """Our webhooks off MailChimp, then the integration. MailChimp refusing (the token
        revoked, MailChimp down) does not keep the integration: the answer names what is left
        at MailChimp, which the account's owner can remove there."""
        integration = self.get(principal, group_id)
        removed: list[str] = []
        not_removed: list[ListOutcome] = []
        for hook in integration.lists:
            refusal = self._remove_for_delete(integration, hook)
            if refusal is None:
                removed.append(hook.list_id)
            else:
                not_removed.append(refusal)
        tx = Transaction(self._table)
        tx.add(
            *self._integrations.delete_ops(integration, hook_secret(integration), integration.version),
            on_condition_failed=_concurrent(),
        )
        tx.add(
            self._base.integration_audit_op(
                principal, "deleted", integration, not_removed=str(len(not_removed))
            )
        )
        tx.commit()
        return Removal(removed, not_removed)

    def _remove_for_delete(self, integration: Integration, hook: ListHook) -> ListOutcome | None:
        """None once our webhook is off the audience; else what MailChimp said."""
        try:
            token, endpoint = self._credentials(integration)
            self._client().delete_webhook(token, endpoint, hook.list_id, hook.webhook_id)
        except mailchimp.MailchimpApiFailure as failure:
            return ListOutcome(hook.list_id, hook.name, "failed", failure.detail or failure.error)
        return None

    # --- shared -----------------------------------------------------------------------------------

    def _authorized(self, integration: Integration) -> Integration:
        if integration.token_ciphertext is None or integration.api_endpoint is None:
            raise Conflict("Authenticate with MailChimp first.", "not_authorized")
        return integration

    def _credentials(self, integration: Integration) -> tuple[str, str]:
        if integration.token_ciphertext is None or integration.api_endpoint is None:
            raise mailchimp.MailchimpApiFailure("not_authorized", "permanent", detail="not authorized")
        token = self._box.decrypt(integration.token_ciphertext, token_owner(integration))
        return token, integration.api_endpoint

    def _audiences(self, integration: Integration) -> list[mailchimp.Audience]:
        """The account's audiences: a token MailChimp refuses is 409 (authenticate again),
        MailChimp unwell 502."""
        token, endpoint = self._credentials(integration)
        try:
            return self._client().audiences(token, endpoint)
        except mailchimp.MailchimpApiFailure as failure:
            if failure.kind == "permanent":
                raise Conflict(
                    f"MailChimp refused the integration's token ({failure.error}); "
                    "authenticate with MailChimp again.",
                    "mailchimp_refused",
                ) from None
            raise BadGateway(
                "MailChimp did not answer; try again in a moment.", "mailchimp_unavailable"
            ) from None


class MailchimpInbound:
    """MailChimp → group: the webhook receiver (its validation ping, and its events)."""

    def __init__(
        self,
        table: Table,
        integrations: IntegrationRepository,
        domains: DomainRepository,
        messages: MessageRepository,
        clock: Clock,
    ) -> None:
        self._table = table
        self._integrations = integrations
        self._domains = domains
        self._messages = messages
        self._clock = clock

    def ping(self, secret: str) -> None:
        """MailChimp's GET when a webhook is created: 200 for one of ours, 404 otherwise (an
        unknown secret, or the service off: MailChimp then refuses to create it)."""
        target = self._target(secret)
        domain = self._domains.get(target.domain) if target else None
        if (
            domain is None
            or domain.status is not DomainStatus.ACTIVE
            or Service.MAILCHIMP.value in domain.services_off
        ):
            raise _unknown_hook()

    def from_webhook(self, secret: str, body: bytes) -> None:
        target = self._target(secret)
        if target is None:
            raise _unknown_hook()
        try:
            event = mailchimp.parse_webhook_event(body)
        except mailchimp.MailchimpPayloadError as bad:
            raise InvalidField("body", str(bad), "invalid_payload") from None
        list_name = target.lists.get(event.list_id)
        if list_name is None:  # an audience the group does not follow (any more): dropped,
            self.ping(secret)  # with a 200 while the service is on, as for every other event
            return
        if not self._post(target, event, list_name):
            raise _unknown_hook()

    def _target(self, secret: str) -> HookTarget | None:
        if not (20 <= len(secret) <= 100):
            return None
        return self._integrations.find_by_hook(Service.MAILCHIMP, secret)

    def _post(self, target: HookTarget, event: mailchimp.MailchimpEvent, list_name: str) -> bool:
        """The message with its event's marker, if the service is on and the audience still
        followed (False otherwise); a repeated event finds its marker: True, posted already."""
        now = self._clock.now()
        message = Message(
            id=ids.new_id(int(now.timestamp() * 1000)),
            conversation=Conversation.of_group(target.domain, target.group_id),
            author_id=target.integration_id,
            text=mailchimp.event_text(event, list_name),
            file_ids=(),
            created_at=now,
            expires_at=Retention(target.retention_days).expires_at(now),
            via=Via(Service.MAILCHIMP.value, list_name, target.display_name),
        )
        operations = [
            self._integrations.relayed_in_op(target, Service.MAILCHIMP.value, event.dedupe_key, now),
            self._messages.create_op(message),
            self._domains.service_on_check_op(target.domain, Service.MAILCHIMP.value),
            self._integrations.list_check_op(target, Service.MAILCHIMP, event.list_id),
        ]
        try:
            self._table.transact(operations)
        except ConditionFailed as failed:
            if not failed.failed:
                raise _busy() from None
            return (
                2 not in failed.failed
            )  # the service off: 404; a duplicate, or an audience dropped meanwhile: done
        return True


def _checked_choice(choice: ListChoice) -> ListChoice:
    if not choice.list_ids:
        raise InvalidField("list_ids", "must name at least one audience", "list_required")
    unknown = [e for e in choice.events or () if e not in MAILCHIMP_EVENTS]
    if unknown:
        raise InvalidField(
            "events", f"must be among {', '.join(MAILCHIMP_EVENTS)}, not {unknown[0]!r}", "invalid_enum"
        )
    if choice.events is not None and not choice.events:
        raise InvalidField("events", "must name at least one event, or be left out for all of them")
    return ListChoice(
        list(dict.fromkeys(choice.list_ids)), list(dict.fromkeys(choice.events)) if choice.events else None
    )


def _busy() -> Conflict:
    return Conflict("The group was busy; send the event again.", "concurrent_change")


def _concurrent() -> Conflict:
    return Conflict(
        "The integration changed at the same moment; read it again and retry.", "concurrent_change"
    )


def _unknown_hook() -> NotFound:
    return NotFound("There is no such webhook.", "webhook_not_found")
