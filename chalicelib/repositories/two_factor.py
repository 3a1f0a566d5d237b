"""Two-factor sign-in items, all in the user's own partition (`D#<d>#U#<id>`):

- `CHALLENGE#OPEN`: the user's one open second step (API.md §2: a new challenge ends the older
  ones, so it is one item that each new challenge overwrites); it names the challenge by
  `id_hash`, sha256 of the challenge id, and every read and write of it checks that name, so an
  ended challenge accepts nothing. `wrong_codes` counts the codes tried, each before it is
  checked. TTL at its expiry (reads check the expiry too: TTL deletion lags);
- `TWOFACTOR`: the user's TOTP enrolment: the secret (KMS ciphertext), the last time step
  accepted (a code is good once) and the hashes of the unused recovery codes (a map, so that one
  code is used with a conditional REMOVE);
- `TRUSTED#<sha256(trusted token)>`: a browser that passed a challenge; TTL at its end.

A reset or a deletion finds them all with one Query of the partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.core.clock import epoch, iso_ms
from chalicelib.domain.models import ClientKind, Domain, TwoFactorMethod, User
from chalicelib.domain.two_factor import Challenge, TrustedBrowser
from chalicelib.repositories import keys
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms
from chalicelib.repositories.users import UserRepository


@dataclass(frozen=True)
class TotpEnrolment:
    secret: bytes  # KMS ciphertext
    last_step: int
    recovery_hashes: frozenset[str]
    enrolled_at: datetime


@dataclass(frozen=True)
class ChallengeContext:
    """What answering a challenge reads, in one BatchGetItem."""

    domain: Domain | None
    user: User | None
    challenge: Challenge | None
    enrolment: TotpEnrolment | None


OPEN_CHALLENGE = "OPEN"  # CHALLENGE#OPEN: not a hash (those are hex), so no clash with the
# CHALLENGE#<hash> items written before one challenge a user (they die by TTL in 10 minutes).


class TwoFactorRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    @staticmethod
    def challenge_key(domain: str, user_id: str) -> tuple[str, str]:
        """The user's open challenge: one item a user, whichever challenge it holds."""
        return keys.user_pk(domain, user_id), keys.challenge_sk(OPEN_CHALLENGE)

    @staticmethod
    def enrolment_key(domain: str, user_id: str) -> tuple[str, str]:
        return keys.user_pk(domain, user_id), keys.TWO_FACTOR

    @staticmethod
    def trusted_key(domain: str, user_id: str, token_hash: str) -> tuple[str, str]:
        return keys.user_pk(domain, user_id), keys.trusted_sk(token_hash)

    # --- reads ----------------------------------------------------------------------------------

    def load_challenge_context(self, domain: str, user_id: str, id_hash: str) -> ChallengeContext:
        domain_item, user_item, challenge_item, enrolment_item = self._table.get_each(
            DomainRepository.key(domain),
            UserRepository.profile_key(domain, user_id),
            self.challenge_key(domain, user_id),
            self.enrolment_key(domain, user_id),
        )
        challenge = self.challenge_from_item(challenge_item) if challenge_item else None
        return ChallengeContext(
            domain=DomainRepository.from_item(domain_item) if domain_item else None,
            user=UserRepository.from_item(user_item) if user_item else None,
            # a challenge ended by a newer one is as unknown as one that never was
            challenge=challenge if challenge and challenge.id_hash == id_hash else None,
            enrolment=self.enrolment_from_item(enrolment_item) if enrolment_item else None,
        )

    # --- challenges -----------------------------------------------------------------------------

    def get_challenge(self, domain: str, user_id: str, id_hash: str) -> Challenge | None:
        item = self._table.get(*self.challenge_key(domain, user_id))
        challenge = self.challenge_from_item(item) if item else None
        return challenge if challenge and challenge.id_hash == id_hash else None

    def put_challenge(self, challenge: Challenge) -> None:
        """Opens this challenge and so ends the user's previous one, if any."""
        self._table.put(self.challenge_to_item(challenge))

    def count_code_op(self, challenge: Challenge, max_codes: int, now: datetime) -> dict[str, Any]:
        """Counts a code before it is checked (ADD, atomic: codes tried at the same moment all
        count), if this challenge is still the open one, alive and with tries left."""
        return self._table.update_op(
            *self.challenge_key(challenge.domain, challenge.user_id),
            "ADD wrong_codes :one",
            {":one": 1, ":id": challenge.id_hash, ":max": max_codes, ":now": iso_ms(now)},
            condition="id_hash = :id AND wrong_codes < :max AND expires_at > :now",
        )

    def replace_email_code(self, challenge: Challenge, code_hash: str, sent_at: datetime) -> None:
        """The new code replaces the old, if no other resend landed since the challenge was read
        (else ConditionFailed)."""
        values = {":hash": code_hash, ":sent": iso_ms(sent_at), ":id": challenge.id_hash}
        unchanged = "attribute_not_exists(code_sent_at)"
        if challenge.code_sent_at is not None:
            values[":previous"] = iso_ms(challenge.code_sent_at)
            unchanged = "code_sent_at = :previous"
        self._table.update(
            *self.challenge_key(challenge.domain, challenge.user_id),
            "SET code_hash = :hash, code_sent_at = :sent",
            values,
            condition=f"id_hash = :id AND {unchanged}",
        )

    def consume_challenge_op(self, challenge: Challenge) -> dict[str, Any]:
        """Single use: the challenge goes with the sign-in it completes, unless another sign-in
        used it or a newer challenge ended it meanwhile (its code was counted before the check)."""
        return self._table.delete_op(
            *self.challenge_key(challenge.domain, challenge.user_id),
            Condition("id_hash = :id", {":id": challenge.id_hash}),
        )

    # --- the TOTP enrolment -----------------------------------------------------------------------

    def enrol_op(
        self,
        domain: str,
        user_id: str,
        secret: bytes,
        step: int,
        recovery_hashes: Iterable[str],
        now: datetime,
    ) -> dict[str, Any]:
        pk, sk = self.enrolment_key(domain, user_id)
        item = {
            "pk": pk,
            "sk": sk,
            "type": "totp_enrolment",
            "secret": secret,
            "last_step": step,
            "recovery": {h: iso_ms(now) for h in recovery_hashes},
            "enrolled_at": iso_ms(now),
        }
        return self._table.put_op(item, ITEM_IS_NEW)

    def accept_step_op(self, domain: str, user_id: str, step: int) -> dict[str, Any]:
        """Replay guard: the step must be later than every step accepted before, race-free."""
        return self._table.update_op(
            *self.enrolment_key(domain, user_id),
            "SET last_step = :step",
            {":step": step},
            condition="attribute_exists(pk) AND last_step < :step",
        )

    def use_recovery_code_op(self, domain: str, user_id: str, code_hash: str) -> dict[str, Any]:
        """Single use: the code's hash leaves the map, if it is still there."""
        return self._table.update_op(
            *self.enrolment_key(domain, user_id),
            "REMOVE recovery.#code",
            condition="attribute_exists(recovery.#code)",
            names={"#code": code_hash},
        )

    # --- trusted browsers -----------------------------------------------------------------------

    def trust_op(self, domain: str, user_id: str, trusted: TrustedBrowser) -> dict[str, Any]:
        pk, sk = self.trusted_key(domain, user_id, trusted.token_hash)
        item = {
            "pk": pk,
            "sk": sk,
            "type": "trusted_browser",
            "issued_at": iso_ms(trusted.issued_at),
            "trusted_until": iso_ms(trusted.trusted_until),
            "security_epoch": trusted.epoch,
            "ttl": epoch(trusted.trusted_until),
        }
        return self._table.put_op(item)

    # --- reset ----------------------------------------------------------------------------------

    def drop_enrolment_op(self, domain: str, user_id: str) -> dict[str, Any]:
        """ "Reset QR code": the secret and the recovery codes go (trusted browsers go with the
        user's tokens, SessionRepository.delete_all_of_user)."""
        return self._table.delete_op(*self.enrolment_key(domain, user_id))

    # --- items ----------------------------------------------------------------------------------

    @staticmethod
    def challenge_to_item(challenge: Challenge) -> Item:
        pk, sk = TwoFactorRepository.challenge_key(challenge.domain, challenge.user_id)
        return {
            "pk": pk,
            "sk": sk,
            "type": "challenge",
            "id_hash": challenge.id_hash,
            "domain": challenge.domain,
            "user_id": challenge.user_id,
            "method": challenge.method.value,
            "client": challenge.client.value,
            "created_at": iso_ms(challenge.created_at),
            "expires_at": iso_ms(challenge.expires_at),
            "wrong_codes": challenge.wrong_codes,
            "enroll": challenge.enroll,
            "code_hash": challenge.code_hash,
            "code_sent_at": iso_ms(challenge.code_sent_at) if challenge.code_sent_at else None,
            "pending_secret": challenge.pending_secret,
            "ttl": epoch(challenge.expires_at),
        }

    @staticmethod
    def challenge_from_item(item: Item) -> Challenge:
        sent = item.get("code_sent_at")
        return Challenge(
            id_hash=item["id_hash"],
            domain=item["domain"],
            user_id=item["user_id"],
            method=TwoFactorMethod(item["method"]),
            client=ClientKind(item["client"]),
            created_at=parse_ms(item["created_at"]),
            expires_at=parse_ms(item["expires_at"]),
            wrong_codes=int(item.get("wrong_codes", 0)),
            enroll=bool(item.get("enroll", False)),
            code_hash=item.get("code_hash"),
            code_sent_at=parse_ms(sent) if sent else None,
            pending_secret=_bytes(item.get("pending_secret")),
        )

    @staticmethod
    def enrolment_from_item(item: Item) -> TotpEnrolment:
        return TotpEnrolment(
            secret=_bytes(item["secret"]) or b"",
            last_step=int(item.get("last_step", -1)),
            recovery_hashes=frozenset(item.get("recovery") or {}),
            enrolled_at=parse_ms(item["enrolled_at"]),
        )


def _bytes(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None
