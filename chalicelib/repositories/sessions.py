"""Bearer tokens (sessions) and the reads that authenticate a request or a login.

A token item lives in its user's partition (`TOKEN#<sha256>`), so revoking every token of a user
is one Query plus BatchWrite of that user's own items, and the token's key is rebuilt from the
token string alone (it names its domain and user), which lets one BatchGetItem fetch the token,
the user and the domain together: authenticating a request costs one AWS call.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import epoch, iso_ms
from chalicelib.domain.devices import Device
from chalicelib.domain.models import ClientKind, Credentials, Domain, LoginFailures, Session, User
from chalicelib.domain.two_factor import TrustedBrowser
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.devices import DeviceRepository
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ConditionFailed, Item, Table
from chalicelib.repositories.timestamps import parse_ms
from chalicelib.repositories.users import UserRepository


@dataclass(frozen=True)
class SignInRead:
    user: User | None
    device: Device | None
    trusted: TrustedBrowser | None


class SessionRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def key(domain: str, user_id: str, token_hash: str) -> tuple[str, str]:
        return keys.user_pk(domain, user_id), keys.token_sk(token_hash)

    def create(self, session: Session) -> None:
        self._table.put(self.to_item(session))

    def create_op(self, session: Session) -> dict[str, object]:
        return self._table.put_op(self.to_item(session))

    def delete(self, domain: str, user_id: str, token_hash: str) -> None:
        self._table.delete(*self.key(domain, user_id, token_hash))

    def delete_all_of_user(self, domain: str, user_id: str) -> int:
        """Revokes every token of a user, and every browser the user's 2FA trusts (a trusted
        token must not outlive a deactivation or a deletion); returns how many tokens there were."""
        pk = keys.user_pk(domain, user_id)
        found = [(i["pk"], i["sk"]) for i in self._table.query_all(pk, sk_prefix=keys.TOKEN_PREFIX)]
        trusted = [(i["pk"], i["sk"]) for i in self._table.query_all(pk, sk_prefix=keys.TRUSTED_PREFIX)]
        self._table.batch_write(deletes=found + trusted)
        return len(found)

    def load_request_context(
        self, domain: str, user_id: str, token_hash: str, device_id: str | None = None
    ) -> tuple[Domain | None, User | None, Session | None, Device | None]:
        """Domain, user, token (and the token's device) of a request, in one strongly consistent
        BatchGetItem: a device-bound request costs no more calls than any other."""
        wanted = [
            DomainRepository.key(domain),
            UserRepository.profile_key(domain, user_id),
            self.key(domain, user_id, token_hash),
        ]
        if device_id is not None:
            wanted.append(DeviceRepository.key(domain, user_id, device_id))
        domain_item, user_item, token_item, *device_item = self._table.get_each(*wanted)
        device = device_item[0] if device_item else None
        return (
            DomainRepository.from_item(domain_item) if domain_item else None,
            UserRepository.from_item(user_item) if user_item else None,
            self.from_item(token_item) if token_item else None,
            DeviceRepository.from_item(device) if device else None,
        )

    def load_sign_in(
        self, domain: str, user_id: str, device_id: str | None, trusted_hash: str | None
    ) -> SignInRead:
        """The user signing in and, for an app, that device of theirs, or for a browser the
        trusted token it presents: one read either way."""
        wanted = [UserRepository.profile_key(domain, user_id)]
        if device_id is not None:
            wanted.append(DeviceRepository.key(domain, user_id, device_id))
        if trusted_hash is not None:
            wanted.append((keys.user_pk(domain, user_id), keys.trusted_sk(trusted_hash)))
        if len(wanted) == 1:
            found: list[Item | None] = [self._table.get(*wanted[0])]
        else:
            found = self._table.get_each(*wanted)
        user_item = found.pop(0)
        device_item = found.pop(0) if device_id is not None else None
        trusted_item = found.pop(0) if trusted_hash is not None else None
        return SignInRead(
            user=UserRepository.from_item(user_item) if user_item else None,
            device=DeviceRepository.from_item(device_item) if device_item else None,
            trusted=_trusted_from_item(trusted_item) if trusted_item else None,
        )

    def delete_all_of_device(self, domain: str, user_id: str, device_id: str) -> int:
        """Revokes every token bound to one device of a user."""
        pk = keys.user_pk(domain, user_id)
        found = [
            (i["pk"], i["sk"])
            for i in self._table.query_all(pk, sk_prefix=keys.TOKEN_PREFIX)
            if i.get("device_id") == device_id
        ]
        self._table.batch_write(deletes=found)
        return len(found)

    @staticmethod
    def to_item(session: Session) -> Item:
        pk, sk = SessionRepository.key(session.domain, session.user_id, session.token_hash)
        return {
            "pk": pk,
            "sk": sk,
            "type": "token",
            "domain": session.domain,
            "user_id": session.user_id,
            "client": session.client.value,
            "device_id": session.device_id,
            "device_epoch": session.device_epoch if session.device_id else None,
            "created_at": iso_ms(session.created_at),
            "expires_at": iso_ms(session.expires_at),
            "ttl": epoch(session.expires_at),
        }

    @staticmethod
    def from_item(item: Item) -> Session:
        return Session(
            token_hash=item["sk"].removeprefix(keys.TOKEN_PREFIX),
            domain=item["domain"],
            user_id=item["user_id"],
            client=ClientKind(item["client"]),
            created_at=parse_ms(item["created_at"]),
            expires_at=parse_ms(item["expires_at"]),
            device_id=item.get("device_id"),
            device_epoch=int(item.get("device_epoch") or 0),
        )


class LoginRepository:
    """What a login reads (domain, the email's credentials, recent failures) in one call, and the
    account's lockout counter: attempts (passwords and codes) of one email of one domain, counted
    with atomic conditional updates, never read-modify-write. Failures are kept per email, known
    or not, so that lockouts say nothing about which emails have accounts."""

    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def failures_key(domain: str, email: str) -> tuple[str, str]:
        return keys.email_pk(domain, email), keys.LOGIN_FAILURES

    def load(self, domain: str, email: str) -> tuple[Domain | None, Credentials | None, LoginFailures | None]:
        domain_item, email_item, failures_item = self._table.get_each(
            DomainRepository.key(domain),
            UserRepository.email_key(domain, email),
            self.failures_key(domain, email),
        )
        return (
            DomainRepository.from_item(domain_item) if domain_item else None,
            UserRepository.credentials_from_item(email_item) if email_item else None,
            self._failures_from_item(failures_item) if failures_item else None,
        )

    def failures(self, domain: str, email: str) -> LoginFailures | None:
        item = self._table.get(*self.failures_key(domain, email))
        return self._failures_from_item(item) if item else None

    def count_attempt(
        self,
        domain: str,
        email: str,
        now: datetime,
        window: timedelta,
        max_failures: int,
        fresh: bool,
        also: dict[str, Any] | None = None,
    ) -> None:
        """Counts one attempt (a password or a code about to be checked) before it is checked,
        in one atomic write, or raises ConditionFailed: the account is locked, its window is full
        (`max_failures` attempts counted), or the item is not in the state `fresh` expects.

        `fresh=False` adds one to the running window (ADD: attempts at the same moment all
        count, and the one that would exceed the limit is refused); `fresh=True` starts a new
        window, only where there is none or it is over, and never while a lock runs (a late
        attempt does not end a lock). `also`, an operation of the same transaction (the
        challenge's own count): failed conditions name their indexes, this one 0, `also` 1."""
        pk, sk = self.failures_key(domain, email)
        values: dict[str, Any] = {":one": 1, ":now": iso_ms(now), ":floor": iso_ms(now - window)}
        names: dict[str, str] | None = None
        not_locked = "(attribute_not_exists(locked_until) OR locked_until <= :now)"
        if fresh:
            values.update({":type": "login_failures", ":ttl": epoch(now + window) + 3600})
            names = {"#type": "type", "#ttl": "ttl"}
            expression = "SET failed_count = :one, window_start = :now, #type = :type, #ttl = :ttl"
            expression += " REMOVE locked_until"
            condition = f"attribute_not_exists(pk) OR (window_start <= :floor AND {not_locked})"
        else:
            values[":max"] = max_failures
            expression = "ADD failed_count :one"
            condition = f"window_start > :floor AND failed_count < :max AND {not_locked}"
        if also is None:
            self._table.update(pk, sk, expression, values, condition, names)
        else:
            self._table.transact([self._table.update_op(pk, sk, expression, values, condition, names), also])

    def lock_if_full(self, domain: str, email: str, until: datetime, max_failures: int) -> bool:
        """After a failed attempt: locks the account until `until` if its window holds
        `max_failures` attempts, and never moves a running lock earlier. True if it locked."""
        try:
            self._table.update(
                *self.failures_key(domain, email),
                "SET locked_until = :until, #ttl = :ttl",
                {":until": iso_ms(until), ":ttl": epoch(until) + 3600, ":max": max_failures},
                condition="failed_count >= :max AND "
                "(attribute_not_exists(locked_until) OR locked_until < :until)",
                names={"#ttl": "ttl"},
            )
        except ConditionFailed:
            return False
        return True

    def uncount_attempt(self, domain: str, email: str) -> None:
        """Gives back an attempt that turned out not to be a failure (a right password that
        leads to a challenge or a refusal); never below zero, never a lock lifted."""
        with contextlib.suppress(ConditionFailed):
            self._table.update(
                *self.failures_key(domain, email),
                "ADD failed_count :minus",
                {":minus": -1, ":zero": 0},
                condition="failed_count > :zero",
            )

    def register_email(self, domain: str, email: str) -> None:
        """The registry entry of an email nobody holds, whose failures were counted (so that a
        domain's deletion finds them)."""
        self._table.put(partitions.email_entry(domain, email))

    def clear_failures_op(self, domain: str, email: str) -> dict[str, object]:
        return self._table.delete_op(*self.failures_key(domain, email))

    @staticmethod
    def _failures_from_item(item: Item) -> LoginFailures:
        locked = item.get("locked_until")
        return LoginFailures(
            count=item["failed_count"],
            window_start=parse_ms(item["window_start"]),
            locked_until=parse_ms(locked) if locked else None,
        )


def _trusted_from_item(item: Item) -> TrustedBrowser:
    return TrustedBrowser(
        token_hash=item["sk"].removeprefix(keys.TRUSTED_PREFIX),
        issued_at=parse_ms(item["issued_at"]),
        trusted_until=parse_ms(item["trusted_until"]),
        epoch=int(item.get("security_epoch", 0)),
    )
