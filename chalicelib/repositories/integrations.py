"""Integrations of a group (API.md §6) and the items that let outside calls find them.

- the integration: in the group's partition (`INTEGRATION#<service>`), so that posting a message
  reads it in the same BatchGetItem as the poster's membership; GSI2
  `D#<d>#INTEGRATIONS#<service>` lists a domain's integrations of a service (the services page
  counts them);
- its webhook lookup item `HOOK#<service>#<sha256 of the secret>`: the group a webhook URL feeds;
- a Slack channel's lookup item `SLACKCH#<team>#<channel>`: the group the channel feeds (Events
  API); one group a channel, so one event makes one message;
- relay markers (TTL): a Slack message already posted into a group, a group message already sent
  to Slack;
- used OAuth `state` values (TTL).

Lookup items copy the display name (a webhook's one read must be enough to post); every change
of it writes them in the same transaction as the integration.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.integrations import (
    RELAY_MARKER_DAYS,
    HookTarget,
    Integration,
    IntegrationStatus,
    ListHook,
    Service,
)
from chalicelib.domain.models import Membership
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import ITEM_EXISTS, ITEM_IS_NEW, Condition, Item, KeyPair, Table
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.timestamps import parse_ms


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class IntegrationRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(domain: str, group_id: str, service: Service) -> KeyPair:
        return keys.group_pk(domain, group_id), keys.integration_sk(service)

    # --- reads --------------------------------------------------------------------------------

    def get(self, domain: str, group_id: str, service: Service) -> Integration | None:
        item = self._table.get(*self.key(domain, group_id, service))
        return self.from_item(item) if item else None

    def membership_and_integration(
        self, domain: str, group_id: str, user_id: str, service: Service
    ) -> tuple[Membership | None, Integration | None]:
        """The poster's membership and the group's integration, in one BatchGetItem: the read a
        post makes anyway, so a group without an integration costs no call more."""
        pk = keys.group_pk(domain, group_id)
        member, integration = self._table.get_each(
            (pk, keys.member_sk(user_id)), self.key(domain, group_id, service)
        )
        return (
            GroupRepository.membership_from_item(member) if member else None,
            self.from_item(integration) if integration else None,
        )

    def find_by_hook(self, service: Service, secret: str) -> HookTarget | None:
        item = self._table.get(keys.hook_pk(service, secret_hash(secret)), keys.HOOK)
        return _target(item) if item else None

    def find_by_channel(self, team_id: str, channel_id: str) -> HookTarget | None:
        item = self._table.get(keys.slack_channel_pk(team_id, channel_id), keys.CHANNEL)
        return _target(item) if item else None

    def count_of_domain(self, domain: str, service: Service) -> int:
        """How many groups of the domain use the service: a COUNT Query of its GSI2 partition
        (as many items as there are such groups; nothing else of the table is read)."""
        return self._table.count(keys.domain_integrations_gsi2pk(domain, service), index="gsi2")

    def state_used(self, domain: str, nonce: str) -> bool:
        return self._table.get(keys.oauth_state_pk(domain), nonce) is not None

    # --- writes (operations of the service's transactions) ------------------------------------

    def create_ops(self, integration: Integration, secret: str) -> list[dict[str, Any]]:
        """The integration (none of this service in the group yet) and its webhook lookup."""
        return [
            self._table.put_op(self.to_item(integration), ITEM_IS_NEW),
            self._table.put_op(self._hook_item(integration, secret), ITEM_IS_NEW),
        ]

    def save_op(self, integration: Integration, read_version: int) -> dict[str, Any]:
        """The whole integration, if nobody saved it since it was read at `read_version`."""
        condition = Condition("attribute_exists(pk) AND version = :read", {":read": read_version})
        return self._table.put_op(self.to_item(integration), condition)

    def lookup_ops(
        self, integration: Integration, secret: str, with_channel: bool = True
    ) -> list[dict[str, Any]]:
        """The lookup items written again with the integration's current display name (the
        channel's too, unless the transaction claims it anew)."""
        ops = [self._table.put_op(self._hook_item(integration, secret), ITEM_EXISTS)]
        if with_channel and integration.team_id and integration.channel_id:
            ops.append(self._table.put_op(self._channel_item(integration), _channel_is_ours(integration)))
        return ops

    def claim_channel_op(self, integration: Integration) -> dict[str, Any]:
        """The channel's lookup item, pointing at this integration: fails when the channel feeds
        another group (one group a channel)."""
        return self._table.put_op(self._channel_item(integration), _free_or_ours(integration))

    def release_channel_op(self, integration: Integration) -> dict[str, Any] | None:
        if not (integration.team_id and integration.channel_id):
            return None
        pk = keys.slack_channel_pk(integration.team_id, integration.channel_id)
        return self._table.delete_op(pk, keys.CHANNEL, _channel_is_ours(integration, absent_ok=True))

    def delete_ops(self, integration: Integration, secret: str, read_version: int) -> list[dict[str, Any]]:
        condition = Condition("version = :read", {":read": read_version})
        ops = [
            self._table.delete_op(
                *self.key(integration.domain, integration.group_id, integration.service), condition
            ),
            self._table.delete_op(keys.hook_pk(integration.service, secret_hash(secret)), keys.HOOK),
        ]
        release = self.release_channel_op(integration)
        return ops + ([release] if release else [])

    def use_state_op(self, domain: str, nonce: str, expires_at: datetime) -> dict[str, Any]:
        """Marks an OAuth state used (fails if it was): kept a day past its expiry, by TTL."""
        item = {
            "pk": keys.oauth_state_pk(domain),
            "sk": nonce,
            "type": "oauth_state",
            "ttl": int((expires_at + timedelta(days=1)).timestamp()),
        }
        return self._table.put_op(item, ITEM_IS_NEW)

    def exists_check_op(self, target: HookTarget, service: Service) -> dict[str, Any]:
        """A transaction's check that the integration a lookup item named is still there."""
        pk, sk = self.key(target.domain, target.group_id, service)
        return self._table.check_op(pk, sk, Condition("id = :id", {":id": target.integration_id}))

    def channel_check_op(self, target: HookTarget, team_id: str, channel_id: str) -> dict[str, Any]:
        """A transaction's check that the integration still has this channel."""
        pk, sk = self.key(target.domain, target.group_id, Service.SLACK)
        condition = Condition(
            "id = :id AND team_id = :team AND channel_id = :channel",
            {":id": target.integration_id, ":team": team_id, ":channel": channel_id},
        )
        return self._table.check_op(pk, sk, condition)

    def list_check_op(self, target: HookTarget, service: Service, list_id: str) -> dict[str, Any]:
        """A transaction's check that the integration still follows this audience."""
        pk, sk = self.key(target.domain, target.group_id, service)
        condition = Condition(
            "id = :id AND contains(list_ids, :list)", {":id": target.integration_id, ":list": list_id}
        )
        return self._table.check_op(pk, sk, condition)

    # --- relay markers ----------------------------------------------------------------------------

    def relayed_in_op(self, target: HookTarget, channel_id: str, ts: str, now: datetime) -> dict[str, Any]:
        """The marker of a Slack message posted into the group: fails if it already was (Slack
        retried, or it came both as an outgoing webhook and as an event)."""
        item = _marker(keys.relay_pk(target.domain, target.group_id), keys.relay_in_sk(channel_id, ts), now)
        return self._table.put_op(item, ITEM_IS_NEW)

    def relay_out_key(self, domain: str, group_id: str, message_id: str) -> KeyPair:
        return keys.relay_pk(domain, group_id), keys.relay_out_sk(message_id)

    def claim_relay_out(self, domain: str, group_id: str, message_id: str, now: datetime, lease: int) -> None:
        """Takes a group message's delivery to Slack: new, left for a retry, or left by a delivery
        whose lease ran out (it crashed). Raises ConditionFailed when it was sent, or when another
        delivery holds it."""
        pk, sk = self.relay_out_key(domain, group_id, message_id)
        item = {**_marker(pk, sk, now), "state": "sending", "lease_until": int(now.timestamp()) + lease}
        taken_over = Condition(
            "attribute_not_exists(pk) OR #state = :retry OR (#state = :sending AND lease_until < :now)",
            {":retry": "retry", ":sending": "sending", ":now": int(now.timestamp())},
            {"#state": "state"},
        )
        self._table.put(item, taken_over)

    def finish_relay_out(
        self, domain: str, group_id: str, message_id: str, state: str, now: datetime
    ) -> None:
        """`sent` (never again) or `failed` (given up); `retry` lets the next delivery take it."""
        pk, sk = self.relay_out_key(domain, group_id, message_id)
        item = {**_marker(pk, sk, now), "state": state, "lease_until": 0}
        self._table.put(item)

    # --- items --------------------------------------------------------------------------------------

    @staticmethod
    def to_item(integration: Integration) -> Item:
        pk, sk = IntegrationRepository.key(integration.domain, integration.group_id, integration.service)
        return {
            "pk": pk,
            "sk": sk,
            "type": "integration",
            "id": integration.id,
            "domain": integration.domain,
            "group_id": integration.group_id,
            "service": integration.service.value,
            "status": integration.status.value,
            "display_name": integration.display_name,
            "hook_salt": integration.hook_salt,
            "created_by": integration.created_by,
            "created_at": iso_ms(integration.created_at),
            "updated_at": iso_ms(integration.updated_at),
            "version": integration.version,
            "team_id": integration.team_id,
            "team_name": integration.team_name,
            "channel_id": integration.channel_id,
            "channel_name": integration.channel_name,
            "bot_user_id": integration.bot_user_id,
            "token": integration.token_ciphertext,
            "error": integration.error,
            "api_endpoint": integration.api_endpoint,
            "account_name": integration.account_name,
            "lists": [
                {"list_id": h.list_id, "name": h.name, "webhook_id": h.webhook_id} for h in integration.lists
            ]
            or None,
            "list_ids": {h.list_id for h in integration.lists} or None,  # what a receiver's check reads
            "events": list(integration.events) or None,
            "retention_days": integration.retention_days,
            "gsi2pk": keys.domain_integrations_gsi2pk(integration.domain, integration.service),
            "gsi2sk": integration.group_id,
        }

    @staticmethod
    def from_item(item: Item) -> Integration:
        return Integration(
            id=item["id"],
            domain=item["domain"],
            group_id=item["group_id"],
            service=Service(item["service"]),
            status=IntegrationStatus(item["status"]),
            display_name=item["display_name"],
            hook_salt=item["hook_salt"],
            created_by=item["created_by"],
            created_at=parse_ms(item["created_at"]),
            updated_at=parse_ms(item["updated_at"]),
            version=item.get("version", 0),
            team_id=item.get("team_id"),
            team_name=item.get("team_name"),
            channel_id=item.get("channel_id"),
            channel_name=item.get("channel_name"),
            bot_user_id=item.get("bot_user_id"),
            token_ciphertext=item.get("token"),
            error=item.get("error"),
            api_endpoint=item.get("api_endpoint"),
            account_name=item.get("account_name"),
            lists=tuple(ListHook(h["list_id"], h["name"], h["webhook_id"]) for h in item.get("lists") or ()),
            events=tuple(item.get("events") or ()),
            retention_days=item.get("retention_days"),
        )

    @staticmethod
    def lookup_keys(item: Item, secret: str) -> list[KeyPair]:
        """The lookup items of an integration item (a group's purge deletes them with it)."""
        found = [(keys.hook_pk(item["service"], secret_hash(secret)), keys.HOOK)]
        if item.get("team_id") and item.get("channel_id"):
            found.append((keys.slack_channel_pk(item["team_id"], item["channel_id"]), keys.CHANNEL))
        return found

    def _hook_item(self, integration: Integration, secret: str) -> Item:
        return {
            "pk": keys.hook_pk(integration.service, secret_hash(secret)),
            "sk": keys.HOOK,
            "type": "integration_hook",
            **_target_attributes(integration),
        }

    def _channel_item(self, integration: Integration) -> Item:
        assert integration.team_id and integration.channel_id
        return {
            "pk": keys.slack_channel_pk(integration.team_id, integration.channel_id),
            "sk": keys.CHANNEL,
            "type": "slack_channel",
            **_target_attributes(integration),
        }


def _target_attributes(integration: Integration) -> Item:
    return {
        "domain": integration.domain,
        "group_id": integration.group_id,
        "integration_id": integration.id,
        "display_name": integration.display_name,
        "lists": {h.list_id: h.name for h in integration.lists} or None,
        "retention_days": integration.retention_days,
    }


def _target(item: Item) -> HookTarget:
    return HookTarget(
        domain=item["domain"],
        group_id=item["group_id"],
        integration_id=item["integration_id"],
        display_name=item["display_name"],
        lists=dict(item.get("lists") or {}),
        retention_days=item.get("retention_days"),
    )


def _free_or_ours(integration: Integration) -> Condition:
    return Condition("attribute_not_exists(pk) OR integration_id = :id", {":id": integration.id})


def _channel_is_ours(integration: Integration, absent_ok: bool = False) -> Condition:
    expression = "integration_id = :id"
    if absent_ok:
        expression = f"attribute_not_exists(pk) OR {expression}"
    return Condition(expression, {":id": integration.id})


def _marker(pk: str, sk: str, now: datetime) -> Item:
    return {
        "pk": pk,
        "sk": sk,
        "type": "relay_marker",
        "at": iso_ms(now),
        "ttl": int((now + timedelta(days=RELAY_MARKER_DAYS)).timestamp()),
    }
