"""BulkSender reads SES's per-destination answer: a 200 may still refuse some destinations."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.notifications.email import INVITATION, BulkSender


class FakeSes:
    """What SES answers SendBulkTemplatedEmail: one Status a destination, in order."""

    class exceptions:  # botocore's attribute name
        AlreadyExistsException = RuntimeError

    def __init__(self, statuses: list[dict[str, str]]) -> None:
        self.statuses = statuses
        self.calls: list[dict[str, Any]] = []

    def create_template(self, **_: Any) -> None:
        return None

    def send_bulk_templated_email(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {"Status": self.statuses}


def test_a_refused_destination_is_logged_without_its_address(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ses = FakeSes(
        [{"Status": "Success", "MessageId": "m1"}, {"Status": "MessageRejected", "Error": "bounced"}]
    )
    monkeypatch.setattr(aws, "ses", lambda: ses)
    data = {"name": "X", "inviter": "Ann", "domain": "demo", "link": "http://x"}
    with caplog.at_level(logging.INFO, logger="chalicelib.notifications.email"):
        calls = BulkSender().send(INVITATION, [("a@demo.local", data), ("b@demo.local", data)])
    assert calls == 1 and len(ses.calls[0]["Destinations"]) == 2
    refusals = [r for r in caplog.records if r.getMessage() == "bulk email refused for a destination"]
    assert [r.fields["status"] for r in refusals] == ["MessageRejected"]  # type: ignore[attr-defined]
    assert all("@demo.local" not in str(vars(r)) for r in caplog.records)
    summary = next(r for r in caplog.records if r.getMessage() == "bulk email sent")
    assert summary.fields == {"template": INVITATION.name, "destinations": 2, "refused": 1}  # type: ignore[attr-defined]
