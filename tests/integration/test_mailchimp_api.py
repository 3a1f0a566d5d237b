"""§6 MailChimp over HTTP against the fake MailChimp: create, authorize (state, token, the
metadata's endpoint), audiences, choosing them (webhooks created, kept, removed; others' left
alone; a refused audience reported), delete (ours removed, or said why not), and the receiver
(every event type reads well, once; unknown secrets, the service off, audiences not chosen)."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.core.config import reset_settings
from chalicelib.domain.integrations import MAILCHIMP_EVENTS, Service
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.services.integrations import hook_secret
from localdev.fake_mailchimp import FakeMailchimp
from tests.conftest import Api, error_of
from tests.integration.tenancy_content import add_member, create_group, sign_in

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mailchimp"
CLIENT_ID = "123456789012"
CLIENT_SECRET = "test-mailchimp-client-secret"
NEWSLETTER, CUSTOMERS, EVENTS = "a1b2c3d4e5", "f6g7h8i9j0", "k1l2m3n4o5"


@pytest.fixture(autouse=True)  # before the app's client, which reads the settings
def fake(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMailchimp]:
    with FakeMailchimp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as running:
        monkeypatch.setenv("MAILCHIMP_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("MAILCHIMP_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("MAILCHIMP_LOGIN_URL", running.login_url)
        monkeypatch.setenv("OC_PUBLIC_URL", "https://chat.example.test")
        reset_settings()
        yield running


def path_of(group_id: str, tail: str = "") -> str:
    return f"/groups/{group_id}/integrations/mailchimp{tail}"


def authorize(api: Api, fake: FakeMailchimp, authorize_url: str, deny: bool = False) -> Any:
    fake.deny_next = deny
    parts = urlsplit(authorize_url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.request("GET", f"{parts.path}?{parts.query}")
    answer = connection.getresponse()
    assert answer.status == 302, answer.read()
    location = urlsplit(answer.getheader("Location") or "")
    connection.close()
    return api.client.http.get(f"{location.path}?{location.query}")


def connected(api: Api, fake: FakeMailchimp, token: str) -> dict[str, Any]:
    group = create_group(api, token, "Marketing")
    created = api.call("POST", path_of(group["id"]), token=token)
    assert created.status_code == 201, created.body
    page = authorize(api, fake, created.json_body["authorize_url"])
    assert page.status_code == 200, page.body
    return group


def receiver_path(domain: str, group_id: str) -> str:
    integration = IntegrationRepository(Table()).get(domain, group_id, Service.MAILCHIMP)
    assert integration is not None
    return f"/hooks/mailchimp/{hook_secret(integration)}"


def deliver(api: Api, path: str, fixture: str, **replace: str) -> Any:
    body = (FIXTURES / fixture).read_text(encoding="utf-8").strip()
    for old, new in replace.items():
        body = body.replace(old, new)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return api.client.http.post(path, headers=headers, body=body.encode())


def fixture_list_id(fixture: str) -> str:
    body = (FIXTURES / fixture).read_text(encoding="utf-8").strip()
    return parse_qs(body)["data[list_id]"][0]


def texts(api: Api, token: str, group_id: str) -> list[str]:
    items = api.call("GET", f"/groups/{group_id}/messages", token=token).json_body["items"]
    return [m["text"] for m in reversed(items)]


# --- set-up -------------------------------------------------------------------------------------------


def test_create_authorize_and_list_audiences(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = create_group(api, token, "Marketing")
    created = api.call("POST", path_of(group["id"]), token=token)
    assert created.status_code == 201
    body = created.json_body
    assert (body["status"], body["display_name"], body["lists"]) == ("pending_auth", "MailChimp", [])
    query = parse_qs(urlsplit(body["authorize_url"]).query)
    assert body["authorize_url"].startswith(f"{fake.login_url}/oauth2/authorize?")
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["https://chat.example.test/oauth/mailchimp/callback"]
    assert error_of(api.call("POST", path_of(group["id"]), token=token)) == (409, "integration_exists")
    assert error_of(api.call("GET", path_of(group["id"], "/lists"), token=token)) == (409, "not_authorized")
    page = authorize(api, fake, body["authorize_url"])
    assert page.status_code == 200 and "Connected to MailChimp" in page.body.decode()
    read = api.call("GET", path_of(group["id"]), token=token).json_body
    assert read["status"] == "connected" and read["account_name"] == "Fake MailChimp"
    stored = Table().get(keys.group_pk("acme", group["id"]), keys.integration_sk(Service.MAILCHIMP))
    assert stored is not None and isinstance(stored["token"], bytes)
    assert stored["api_endpoint"] == fake.url
    audiences = api.call("GET", path_of(group["id"], "/lists"), token=token).json_body
    assert audiences == {
        "items": [
            {"id": NEWSLETTER, "name": "Newsletter", "member_count": 1234},
            {"id": CUSTOMERS, "name": "Customers", "member_count": 56},
            {"id": EVENTS, "name": "Events", "member_count": 7},
        ],
        "next_cursor": None,
    }


def test_a_replayed_or_denied_authorization_changes_nothing(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = create_group(api, token, "Marketing")
    created = api.call("POST", path_of(group["id"]), token=token).json_body
    denied = authorize(api, fake, created["authorize_url"], deny=True)
    assert denied.status_code == 400 and "denied" in denied.body.decode()
    assert authorize(api, fake, created["authorize_url"]).status_code == 200
    replayed = authorize(api, fake, created["authorize_url"])
    assert replayed.status_code == 400 and "already used" in replayed.body.decode()
    forged = api.client.http.get("/oauth/mailchimp/callback?code=x&state=abc.def")
    assert forged.status_code == 400


def test_choosing_audiences_creates_keeps_and_removes_our_webhooks(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = connected(api, fake, token)
    assert error_of(api.call("PUT", path_of(group["id"]), {"list_ids": []}, token=token)) == (
        400,
        "list_required",
    )
    chosen = api.call("PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER, CUSTOMERS]}, token=token)
    assert chosen.status_code == 200, chosen.body
    assert chosen.json_body["status"] == "active"
    assert [(r["list_id"], r["outcome"]) for r in chosen.json_body["results"]] == [
        (NEWSLETTER, "created"),
        (CUSTOMERS, "created"),
    ]
    url = f"https://chat.example.test{receiver_path('acme', group['id'])}"
    ours = [(w["list_id"], w["url"]) for w in fake_webhooks(fake)]
    assert ours == [(NEWSLETTER, url), (CUSTOMERS, url)]
    # the same choice again creates nothing
    again = api.call(
        "PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER, CUSTOMERS]}, token=token
    ).json_body
    assert [r["outcome"] for r in again["results"]] == ["kept", "kept"]
    assert len(fake_webhooks(fake)) == 2
    # a second webhook of ours on one audience (two choices at once) is removed by the next
    ours_again = fake.add_webhook(CUSTOMERS, url, sorted(MAILCHIMP_EVENTS), ["user", "admin", "api"])
    again = api.call(
        "PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER, CUSTOMERS]}, token=token
    ).json_body
    assert [r["outcome"] for r in again["results"]] == ["kept", "kept"]
    assert ours_again not in [w["id"] for w in fake_webhooks(fake)] and len(fake_webhooks(fake)) == 2
    # another webhook on Newsletter is not ours: left alone when Newsletter is dropped
    other = "https://elsewhere.example/hook"
    fake.add_webhook(NEWSLETTER, other)
    moved = api.call("PUT", path_of(group["id"]), {"list_ids": [EVENTS]}, token=token).json_body
    outcomes = sorted((r["list_id"], r["outcome"]) for r in moved["results"])
    assert outcomes == sorted([(EVENTS, "created"), (NEWSLETTER, "removed"), (CUSTOMERS, "removed")])
    assert [(w["list_id"], w["url"]) for w in fake_webhooks(fake)] == [(NEWSLETTER, other), (EVENTS, url)]
    assert [list_["id"] for list_ in moved["lists"]] == [EVENTS]


def test_a_refused_audience_is_reported_and_the_rest_applies(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = connected(api, fake, token)
    fake.refuse_lists.add(CUSTOMERS)
    chosen = api.call(
        "PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER, CUSTOMERS, "nope123"]}, token=token
    )
    results = {r["list_id"]: r for r in chosen.json_body["results"]}
    assert results[NEWSLETTER]["outcome"] == "created"
    assert results[CUSTOMERS]["outcome"] == "failed" and results[CUSTOMERS]["error"]
    assert results["nope123"] == {
        "list_id": "nope123",
        "name": None,
        "outcome": "failed",
        "error": "list_not_found",
    }
    assert [list_["id"] for list_ in chosen.json_body["lists"]] == [NEWSLETTER]


def test_events_choice_and_validation(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = connected(api, fake, token)
    body = {"list_ids": [NEWSLETTER], "events": ["subscribe", "unsubscribe"]}
    chosen = api.call("PUT", path_of(group["id"]), body, token=token).json_body
    assert chosen["events"] == ["subscribe", "unsubscribe"]
    assert set(fake_webhooks(fake)[0]["events"]) == {"subscribe", "unsubscribe"}
    response = api.call(
        "PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER], "events": ["opened"]}, token=token
    )
    assert error_of(response) == (400, "invalid_enum")
    response = api.call("PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER], "list": 1}, token=token)
    assert error_of(response) == (400, "unknown_field")


def test_delete_removes_our_webhooks_or_says_which_it_could_not(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = connected(api, fake, token)
    api.call("PUT", path_of(group["id"]), {"list_ids": [NEWSLETTER]}, token=token)
    deleted = api.call("DELETE", path_of(group["id"]), token=token)
    assert deleted.status_code == 200
    assert deleted.json_body == {
        "deleted": True,
        "webhooks_removed": [NEWSLETTER],
        "webhooks_not_removed": [],
    }
    assert fake_webhooks(fake) == []
    assert error_of(api.call("GET", path_of(group["id"]), token=token)) == (404, "integration_not_found")
    # the token revoked at MailChimp: the integration goes anyway, and the answer says what is left
    group = connected(api, fake, token)
    api.call("PUT", path_of(group["id"]), {"list_ids": [CUSTOMERS]}, token=token)
    fake.revoke_all()
    deleted = api.call("DELETE", path_of(group["id"]), token=token).json_body
    assert deleted["webhooks_removed"] == []
    assert [r["list_id"] for r in deleted["webhooks_not_removed"]] == [CUSTOMERS]
    assert error_of(api.call("GET", path_of(group["id"]), token=token)) == (404, "integration_not_found")


def test_who_may_configure_it(api: Api, fake: FakeMailchimp) -> None:
    admin = api.admin_token()
    mo, member = sign_in(api, "acme", "mo@acme.example")
    group = create_group(api, admin, "Marketing")
    add_member(api, admin, group["id"], mo)
    assert error_of(api.call("POST", path_of(group["id"]), token=member)) == (403, "not_group_admin")
    _, outsider = sign_in(api, "acme", "out@acme.example")
    assert error_of(api.call("POST", path_of(group["id"]), token=outsider)) == (404, "group_not_found")
    api.call("PUT", "/admin/integrations/mailchimp", {"enabled": False}, token=admin)
    assert error_of(api.call("POST", path_of(group["id"]), token=admin)) == (403, "service_disabled")


# --- the receiver --------------------------------------------------------------------------------------


EVENT_TEXTS = {
    "subscribe.txt": "subscribed to",
    "unsubscribe.txt": "unsubscribed from",
    "profile.txt": "updated their profile in",
    "upemail.txt": "changed email to",
    "cleaned.txt": "was cleaned from",
    "campaign.txt": "was sent to",
}


def test_every_event_type_reads_well_once(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = connected(api, fake, token)
    list_id = fixture_list_id("subscribe.txt")
    fake.add_list(list_id, "Newsletter", 10)
    api.call("PUT", path_of(group["id"]), {"list_ids": [list_id]}, token=token)
    path = receiver_path("acme", group["id"])
    assert api.client.http.get(path).status_code == 200  # MailChimp's validation ping
    for fixture in EVENT_TEXTS:
        assert fixture_list_id(fixture) == list_id, fixture
        assert deliver(api, path, fixture).status_code == 200, fixture
        assert deliver(api, path, fixture).status_code == 200, fixture  # delivered again
    posted = texts(api, token, group["id"])
    assert len(posted) == len(EVENT_TEXTS)
    assert all("Newsletter" in text for text in posted), posted
    for fixture, words in EVENT_TEXTS.items():  # one each (the fixed clock posts them in one ms)
        assert len([t for t in posted if words in t]) == 1, (fixture, posted)
    items = api.call("GET", f"/groups/{group['id']}/messages", token=token).json_body["items"]
    assert {m["author"]["name"] for m in items} == {"MailChimp"}
    assert {m["via"]["service"] for m in items} == {"mailchimp"}


def test_unknown_secrets_unchosen_audiences_and_the_service_off(api: Api, fake: FakeMailchimp) -> None:
    token = api.admin_token()
    group = connected(api, fake, token)
    list_id = fixture_list_id("subscribe.txt")
    fake.add_list(list_id, "Newsletter", 10)
    api.call("PUT", path_of(group["id"]), {"list_ids": [list_id]}, token=token)
    path = receiver_path("acme", group["id"])
    assert error_of(api.client.http.get(path[:-3] + "xyz")) == (404, "webhook_not_found")
    assert error_of(deliver(api, path[:-3] + "xyz", "subscribe.txt")) == (404, "webhook_not_found")
    assert deliver(api, path, "subscribe.txt", **{list_id: "zzzzzzzzzz"}).status_code == 200  # not chosen
    assert texts(api, token, group["id"]) == []
    api.call("PUT", "/admin/integrations/mailchimp", {"enabled": False}, token=token)
    assert error_of(deliver(api, path, "subscribe.txt")) == (404, "webhook_not_found")
    assert error_of(api.client.http.get(path)) == (404, "webhook_not_found")
    assert texts(api, token, group["id"]) == []
    api.call("PUT", "/admin/integrations/mailchimp", {"enabled": True}, token=token)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    garbled = api.client.http.post(path, headers=form, body=b"type=nope&data[list_id]=x")
    assert error_of(garbled) == (400, "invalid_payload")


def fake_webhooks(fake: FakeMailchimp) -> list[dict[str, Any]]:
    return list(fake.webhooks)
