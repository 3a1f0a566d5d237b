"""§7 on moto: an import never writes over a user made while it runs. Each test makes another
writer act between the moment a chunk reads the emails and the moment it claims them (the
window a second Lambda, an admin or another import has on AWS): the chunk's claims that are
refused are planned again against the user who exists now, the seat count stays exact, and no
hand-made user loses its id or its password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.repositories.dynamo import Table
from chalicelib.services.imports import ChunkProcessor
from tests.conftest import PLATFORM_KEY, Api
from tests.integration.test_imports_api import deliver, report_rows, start, the_import, users_by_email

BUCKET = "office-chat-files"


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def _before_the_claims(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None]) -> None:
    """Runs `meanwhile` once, after the first chunk has read its emails, before it claims."""
    real = ChunkProcessor._claim
    done = {"ran": False}

    def claim_after_someone_else(self: ChunkProcessor, *args: Any) -> Any:
        if not done["ran"]:
            done["ran"] = True
            meanwhile()
        return real(self, *args)

    monkeypatch.setattr(ChunkProcessor, "_claim", claim_after_someone_else)


def _import(api: Api, client: Any, admin: str, body: str, mode: str) -> dict[str, Any]:
    started = start(api, admin, mode=mode)
    aws.s3().put_object(Bucket=BUCKET, Key=f"imports/acme/{started['import_id']}.csv", Body=body.encode())
    deliver(client)
    return the_import(api, admin, started["import_id"])


def _seats_used(api: Api) -> int:
    domain = api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY}).json_body
    return int(domain["seats"]["used"])


def _add(api: Api, admin: str, email: str) -> str:
    made = api.call(
        "POST",
        "/admin/users",
        {"email": email, "first_name": "Hand", "last_name": "Made", "send_invite": False},
        token=admin,
    )
    assert made.status_code == 201, made.body
    return str(made.json_body["id"])


BODY = "Email,First Name,Last Name\n" + "".join(f"u{i}@acme.example,File,Row{i}\n" for i in range(6))


@pytest.mark.parametrize(("mode", "outcome"), [("update", "updated"), ("skip", "skipped")])
def test_claims_refused_for_users_made_meanwhile_are_planned_again(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch, mode: str, outcome: str
) -> None:
    hand_made: dict[str, str] = {}

    def an_admin_adds_two_of_them() -> None:
        for email in ("u1@acme.example", "u4@acme.example"):
            hand_made[email] = _add(api, admin, email)

    _before_the_claims(monkeypatch, an_admin_adds_two_of_them)
    details = _import(api, client, admin, BODY, mode)

    assert details["counts"]["created"] == 4 and details["counts"][outcome] == 2, details["counts"]
    users = users_by_email(api, admin)
    for email, user_id in hand_made.items():
        assert users[email]["id"] == user_id  # the hand-made user stands, under its own id
        expected = "File" if mode == "update" else "Hand"
        assert users[email]["first_name"] == expected
    assert len([e for e in users if e.startswith("u")]) == 6  # no twin
    assert _seats_used(api) == len(users) == 7  # the admin and six, each once
    by_line = {r["email"]: r["outcome"] for r in report_rows(details)}
    assert by_line == {f"u{i}@acme.example": outcome if i in (1, 4) else "created" for i in range(6)}


def test_a_hand_made_user_keeps_its_password(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.repositories.users import UserRepository

    def someone_signs_up_first() -> None:
        user_id = _add(api, admin, "u2@acme.example")
        Table().update(
            *UserRepository.email_key("acme", "u2@acme.example"), "SET password_hash = :h", {":h": "kept"}
        )
        hand_made["id"] = user_id

    hand_made: dict[str, str] = {}
    _before_the_claims(monkeypatch, someone_signs_up_first)
    _import(api, client, admin, BODY, "update")
    email_item = Table().get(*UserRepository.email_key("acme", "u2@acme.example"))
    assert email_item is not None
    assert (email_item["user_id"], email_item["password_hash"]) == (hand_made["id"], "kept")
    assert "import_id" not in email_item  # never claimed by the import


def test_seats_taken_meanwhile_fail_the_last_rows_and_the_count_stays_exact(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Table().update("D#acme", "META", "SET seats_total = :total", {":total": 5})  # 4 free at the read

    def an_admin_takes_a_seat() -> None:
        _add(api, admin, "someone@acme.example")

    _before_the_claims(monkeypatch, an_admin_takes_a_seat)
    details = _import(api, client, admin, BODY, "skip")

    assert details["counts"]["created"] == 3 and details["counts"]["failed"] == 3, details["counts"]
    assert _seats_used(api) == 5 == len(users_by_email(api, admin))
    failed = [(e["line"], e["code"]) for e in details["errors"]]
    assert failed == [(5, "seat_limit_reached"), (6, "seat_limit_reached"), (7, "seat_limit_reached")]


def test_a_second_delivery_of_the_same_chunk_at_the_same_moment_doubles_nothing(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deliveries read the chunk; the other one claims and writes first: this one's claims
    are all refused as this import's own rows, and it writes the same items again."""
    real = ChunkProcessor._claim
    state = {"depth": 0}

    def the_other_delivery_first(self: ChunkProcessor, record: Any, creations: Any, domain: Any) -> Any:
        state["depth"] += 1
        if state["depth"] == 1:
            outcomes = [new.record for new in creations]
            self.process(record, outcomes, domain, [])  # the other delivery, start to end
        return real(self, record, creations, domain)

    monkeypatch.setattr(ChunkProcessor, "_claim", the_other_delivery_first)
    details = _import(api, client, admin, BODY, "skip")

    assert details["counts"]["created"] == 6 and details["counts"]["failed"] == 0, details["counts"]
    users = users_by_email(api, admin)
    assert len(users) == 7 == _seats_used(api)
    assert all(users[f"u{i}@acme.example"]["last_name"] == f"Row{i}" for i in range(6))
