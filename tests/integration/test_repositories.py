"""Repositories against moto: the access patterns of docs/DATA_MODEL.md that routes do not show."""

from datetime import timedelta
from typing import Any

import pytest

from chalicelib.core import ids
from chalicelib.domain.models import ClientKind, Session
from chalicelib.repositories.dynamo import ITEM_IS_NEW, ConditionFailed, Table
from chalicelib.repositories.sessions import SessionRepository


def _session(domain: str, user_id: str, n: int, clock: Any) -> Session:
    return Session(
        token_hash=f"{n:064x}",
        domain=domain,
        user_id=user_id,
        client=ClientKind.WEB,
        created_at=clock.now(),
        expires_at=clock.now() + timedelta(hours=1),
    )


def test_revoking_every_token_of_a_user_touches_only_that_user(clock: Any) -> None:
    sessions = SessionRepository(Table())
    alice, bob = ids.new_id(), ids.new_id()
    for n in range(60):  # more than two BatchWriteItem calls' worth
        sessions.create(_session("acme", alice, n, clock))
    sessions.create(_session("acme", bob, 1, clock))
    sessions.create(_session("globex", alice, 1, clock))
    assert sessions.delete_all_of_user("acme", alice) == 60
    assert sessions.load_request_context("acme", alice, f"{1:064x}")[2] is None
    assert sessions.load_request_context("acme", bob, f"{1:064x}")[2] is not None
    assert sessions.load_request_context("globex", alice, f"{1:064x}")[2] is not None


def test_batch_get_reads_more_than_a_hundred_keys(clock: Any) -> None:
    table = Table()
    table.batch_write(puts=[{"pk": "D#acme#X", "sk": f"{n:03d}", "n": n} for n in range(130)])
    found = table.batch_get([("D#acme#X", f"{n:03d}") for n in range(135)])
    assert len(found) == 130 and found[("D#acme#X", "007")]["n"] == 7


def test_conditional_writes_raise_condition_failed(clock: Any) -> None:
    table = Table()
    table.put({"pk": "D#acme#Y", "sk": "1"}, ITEM_IS_NEW)
    with pytest.raises(ConditionFailed) as caught:
        table.put({"pk": "D#acme#Y", "sk": "1"}, ITEM_IS_NEW)
    assert caught.value.failed == [0]
    with pytest.raises(ConditionFailed) as in_transaction:
        table.transact(
            [
                table.put_op({"pk": "D#acme#Y", "sk": "2"}, ITEM_IS_NEW),
                table.put_op({"pk": "D#acme#Y", "sk": "1"}, ITEM_IS_NEW),
            ]
        )
    assert in_transaction.value.failed == [1]
    assert table.get("D#acme#Y", "2") is None


def test_a_2fa_secret_opens_only_for_its_owner(aws_env: None) -> None:
    """KMS binds the ciphertext to the encryption context: copied onto another user, it fails."""
    from botocore.exceptions import ClientError

    from chalicelib.repositories.secrets import SecretBox

    box = SecretBox()
    owner = {"domain": "acme", "user_id": "u1", "purpose": "totp"}
    sealed = box.encrypt("JBSWY3DPEHPK3PXP", owner)
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert box.decrypt(sealed, owner) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(ClientError):
        box.decrypt(sealed, {**owner, "user_id": "u2"})
