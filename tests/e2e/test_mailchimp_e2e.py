"""End to end: a group's MailChimp integration through `make run`'s runner and its fake MailChimp
(localdev/fake_mailchimp.py, which checks a webhook's URL with a GET before creating it, as
MailChimp does), over real HTTP, as a group admin drives it: create, authorize (the fake's
consent page redirects to our OAuth callback), choose audiences (webhooks created, kept, removed
at the fake), MailChimp → group (every event type fired by the fake, a repeated one posted once),
the service off and on, delete.

The module's tests share one integration (the `mailchimp` fixture), in the demo domain, on a group
of their own, and run in order; the fixture deletes the integration and turns the service back on
at the end, whatever happened."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import Runner, admin_headers

pytestmark = pytest.mark.e2e

NEWSLETTER, CUSTOMERS, EVENTS = "a1b2c3d4e5", "f6g7h8i9j0", "k1l2m3n4o5"
AUDIENCES = [
    {"id": NEWSLETTER, "name": "Newsletter", "member_count": 1234},
    {"id": CUSTOMERS, "name": "Customers", "member_count": 56},
    {"id": EVENTS, "name": "Events", "member_count": 7},
]
FIRED_AT = "2024-05-06 07:08:09"  # MailChimp's format (UTC); the repeated subscribe sends it again


@dataclass
class Mailchimp:
    """The shared integration, with what the tests need to drive and check it."""

    runner: Runner
    headers: dict[str, str]
    group_id: str
    tag: str  # makes this run's addresses its own
    created: dict[str, Any]  # POST's answer: pending_auth
    callback: requests.Response  # our OAuth callback's page, where the fake redirected the browser
    receiver: str = ""  # our webhook URL, as registered at the fake (known once an audience is chosen)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/groups/{self.group_id}/integrations/mailchimp"

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(
            method, f"{self.runner.url}{path}", json=body, headers=self.headers, timeout=15
        )

    def choose(self, *list_ids: str) -> dict[str, Any]:
        chosen = self.call("PUT", self.path, {"list_ids": list(list_ids)})
        assert chosen.status_code == 200, chosen.text
        return dict(chosen.json())

    def messages(self) -> list[dict[str, Any]]:
        listed = self.call("GET", f"/groups/{self.group_id}/messages")
        assert listed.status_code == 200, listed.text
        return list(listed.json()["items"])

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages()]

    def email(self, name: str) -> str:
        return f"{name}.{self.tag}@example.com"

    def ours(self) -> list[dict[str, Any]]:
        """The fake's webhooks that point at our receiver."""
        return [hook for hook in fake_webhooks(self.runner) if hook["url"] == self.receiver]


# --- the fake MailChimp's side ------------------------------------------------------------------------


def fake_url(runner: Runner) -> str:
    return f"http://127.0.0.1:{runner.env['OC_MAILCHIMP_PORT']}"


def fake_webhooks(runner: Runner) -> list[dict[str, Any]]:
    answer = requests.get(f"{fake_url(runner)}/_fake/webhooks", timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def fire(runner: Runner, list_id: str, kind: str, **fields: str) -> list[int]:
    """The fake POSTs MailChimp's form for the event to every webhook of the audience that takes
    it: the statuses they answered."""
    answer = requests.post(
        f"{fake_url(runner)}/_fake/fire", params={"list_id": list_id, "type": kind, **fields}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["statuses"])


def validator_pings(runner: Runner) -> int:
    """GETs of a MailChimp receiver that answered 200, as the runner's access log shows them (the
    secret in the path is shown as …)."""
    return runner.output().count('"GET /hooks/mailchimp/… HTTP/1.1" 200')


def settled_at(count: Callable[[], int], expected: int, seconds: float = 3.0) -> bool:
    """`count()` reaches `expected` within `seconds` (a log line is written after its answer)."""
    deadline = time.monotonic() + seconds
    while count() < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count() == expected


# --- the shared integration -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mailchimp(runner: Runner) -> Iterator[Mailchimp]:
    headers = admin_headers(runner)
    tag = secrets.token_hex(3)
    group = requests.post(
        f"{runner.url}/groups", json={"name": f"MailChimp e2e {tag}"}, headers=headers, timeout=10
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    path = f"{runner.url}/groups/{group_id}/integrations/mailchimp"
    admin = f"{runner.url}/admin/integrations/mailchimp"
    try:
        created = requests.post(path, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        # the browser's trip: the fake's consent page "clicks Allow" and redirects to our callback
        callback = requests.get(created.json()["authorize_url"], timeout=15)
        yield Mailchimp(runner, headers, group_id, tag, created.json(), callback)
    finally:
        requests.put(admin, json={"enabled": True}, headers=headers, timeout=10)
        requests.delete(path, headers=headers, timeout=15)  # 404 once the last test deleted it


# --- the tests ------------------------------------------------------------------------------------


def test_create_and_authorize_connect_the_fake_account(mailchimp: Mailchimp) -> None:
    runner = mailchimp.runner
    created = mailchimp.created
    assert (created["status"], created["display_name"], created["lists"]) == ("pending_auth", "MailChimp", [])
    authorize = urlsplit(created["authorize_url"])
    assert f"{authorize.scheme}://{authorize.netloc}" == fake_url(runner)
    assert authorize.path == "/oauth2/authorize"

    callback = mailchimp.callback
    assert callback.history and callback.history[0].status_code == 302, callback.history
    landed = urlsplit(callback.url)
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{runner.url}/oauth/mailchimp/callback"
    assert "code=" in landed.query and "state=" in landed.query
    assert callback.status_code == 200, callback.text
    assert callback.headers["Content-Type"].startswith("text/html")
    assert "Connected to MailChimp" in callback.text

    connected = mailchimp.call("GET", mailchimp.path)
    assert connected.status_code == 200, connected.text
    body = connected.json()
    assert body["id"] == created["id"]
    assert (body["status"], body["account_name"], body["error"]) == ("connected", "Fake MailChimp", None)

    audiences = mailchimp.call("GET", f"{mailchimp.path}/lists")
    assert audiences.status_code == 200, audiences.text
    assert audiences.json() == {"items": AUDIENCES, "next_cursor": None}


def test_choosing_audiences_registers_validated_webhooks_once(mailchimp: Mailchimp) -> None:
    runner = mailchimp.runner
    before = {hook["id"] for hook in fake_webhooks(runner)}
    pings = validator_pings(runner)
    chosen = mailchimp.choose(NEWSLETTER, CUSTOMERS)
    assert chosen["status"] == "active"
    assert [(r["list_id"], r["name"], r["outcome"], r["error"]) for r in chosen["results"]] == [
        (NEWSLETTER, "Newsletter", "created", None),
        (CUSTOMERS, "Customers", "created", None),
    ]
    assert chosen["lists"] == [
        {"id": NEWSLETTER, "name": "Newsletter"},
        {"id": CUSTOMERS, "name": "Customers"},
    ]

    new = [hook for hook in fake_webhooks(runner) if hook["id"] not in before]
    assert [hook["list_id"] for hook in new] == [NEWSLETTER, CUSTOMERS]
    urls = {hook["url"] for hook in new}
    assert len(urls) == 1, urls  # one receiver for the integration's audiences
    mailchimp.receiver = urls.pop()
    assert mailchimp.receiver.startswith(f"{runner.url}/hooks/mailchimp/")
    assert all(set(hook["events"]) == set(chosen["events"]) for hook in new), new
    # the fake made each only after our receiver answered its validating GET, as MailChimp does
    assert settled_at(lambda: validator_pings(runner) - pings, 2), runner.output()[-3000:]
    assert requests.get(mailchimp.receiver, timeout=10).status_code == 200

    again = mailchimp.choose(NEWSLETTER, CUSTOMERS)
    assert [(r["list_id"], r["outcome"]) for r in again["results"]] == [
        (NEWSLETTER, "kept"),
        (CUSTOMERS, "kept"),
    ]
    assert again["status"] == "active"
    assert sorted((hook["id"], hook["list_id"]) for hook in mailchimp.ours()) == sorted(
        (hook["id"], hook["list_id"]) for hook in new
    )


def test_every_event_type_reaches_the_group_once(mailchimp: Mailchimp) -> None:
    runner = mailchimp.runner
    jane, old, new, gone = (mailchimp.email(n) for n in ("jane", "old", "new", "gone"))
    subject = f"Spring sale {mailchimp.tag}"
    fired = {
        "subscribe": fire(runner, NEWSLETTER, "subscribe", email=jane, fired_at=FIRED_AT),
        "unsubscribe": fire(runner, NEWSLETTER, "unsubscribe", email=jane, reason="manual"),
        "profile": fire(runner, NEWSLETTER, "profile", email=jane, first_name="Jane", last_name="Roe"),
        "upemail": fire(runner, NEWSLETTER, "upemail", old_email=old, new_email=new),
        "cleaned": fire(runner, NEWSLETTER, "cleaned", email=gone, reason="hard"),
        "campaign": fire(runner, NEWSLETTER, "campaign", subject=subject),
    }
    assert fired == {kind: [200] for kind in fired}, fired
    # MailChimp delivers the same event again (its retries): the group shows it once
    assert fire(runner, NEWSLETTER, "subscribe", email=jane, fired_at=FIRED_AT) == [200]

    items = mailchimp.messages()
    texts = sorted(m["text"] for m in items)
    assert texts == sorted(
        [
            f"{jane} subscribed to Newsletter",
            f"{jane} unsubscribed from Newsletter (reason: manual)",
            f"Jane Roe <{jane}> updated their profile in Newsletter",
            f"{old} changed email to {new} in Newsletter",
            f"{gone} was cleaned from Newsletter (hard bounce)",
            f'Campaign "{subject}" was sent to Newsletter',
        ]
    ), texts
    assert {m["author"]["name"] for m in items} == {"MailChimp"}
    assert {m["author"]["id"] for m in items} == {mailchimp.created["id"]}
    assert {m["via"]["service"] for m in items} == {"mailchimp"}
    assert {m["via"]["name"] for m in items} == {"Newsletter"}


def test_an_audience_no_longer_chosen_loses_our_webhook(mailchimp: Mailchimp) -> None:
    runner = mailchimp.runner
    moved = mailchimp.choose(CUSTOMERS)
    assert sorted((r["list_id"], r["outcome"]) for r in moved["results"]) == [
        (NEWSLETTER, "removed"),
        (CUSTOMERS, "kept"),
    ]
    assert (moved["status"], moved["lists"]) == ("active", [{"id": CUSTOMERS, "name": "Customers"}])
    assert [hook["list_id"] for hook in mailchimp.ours()] == [CUSTOMERS]
    count = len(mailchimp.messages())
    assert fire(runner, NEWSLETTER, "subscribe", email=mailchimp.email("late")) == []  # reaches no webhook
    # a delivery MailChimp had queued before the removal: accepted, dropped
    late = {"type": "subscribe", "fired_at": FIRED_AT, "data[list_id]": NEWSLETTER}
    late["data[email]"] = mailchimp.email("queued")
    assert requests.post(mailchimp.receiver, data=late, timeout=10).status_code == 200
    assert fire(runner, CUSTOMERS, "subscribe", email=mailchimp.email("buyer")) == [200]
    texts = mailchimp.texts()  # newest first
    assert (len(texts), texts[0]) == (count + 1, f"{mailchimp.email('buyer')} subscribed to Customers")


def test_turning_the_service_off_closes_the_receiver(mailchimp: Mailchimp) -> None:
    runner = mailchimp.runner
    admin = f"{runner.url}/admin/integrations/mailchimp"
    count = len(mailchimp.messages())
    off = requests.put(admin, json={"enabled": False}, headers=mailchimp.headers, timeout=10)
    assert off.status_code == 200, off.text
    try:
        assert off.json()["enabled"] is False
        pinged = requests.get(mailchimp.receiver, timeout=10)
        assert pinged.status_code == 404, pinged.text
        assert pinged.json()["error"]["code"] == "webhook_not_found"
        form = {"type": "subscribe", "fired_at": FIRED_AT, "data[list_id]": CUSTOMERS}
        form["data[email]"] = mailchimp.email("while-off")
        posted = requests.post(mailchimp.receiver, data=form, timeout=10)
        assert posted.status_code == 404, posted.text
        assert posted.json()["error"]["code"] == "webhook_not_found"
        assert fire(runner, CUSTOMERS, "subscribe", email=mailchimp.email("fired-off")) == [404]
        assert len(mailchimp.messages()) == count
    finally:
        on = requests.put(admin, json={"enabled": True}, headers=mailchimp.headers, timeout=10)
        assert on.status_code == 200, on.text
    assert on.json()["enabled"] is True
    assert requests.get(mailchimp.receiver, timeout=10).status_code == 200
    assert fire(runner, CUSTOMERS, "subscribe", email=mailchimp.email("back-on")) == [200]
    texts = mailchimp.texts()
    assert (len(texts), texts[0]) == (count + 1, f"{mailchimp.email('back-on')} subscribed to Customers")


def test_delete_removes_our_webhooks_at_mailchimp(mailchimp: Mailchimp) -> None:
    deleted = mailchimp.call("DELETE", mailchimp.path)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": True, "webhooks_removed": [CUSTOMERS], "webhooks_not_removed": []}
    assert mailchimp.ours() == []
    gone = mailchimp.call("GET", mailchimp.path)
    assert gone.status_code == 404, gone.text
    assert requests.get(mailchimp.receiver, timeout=10).status_code == 404
