"""§4 Users and §2 invitations, through the routes, on moto."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.core import aws
from chalicelib.domain.models import Role, UserStatus
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository
from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.factories import add_user, sent_emails

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def invite_token(to: str) -> str:
    mail = [m for m in sent_emails() if to in m["to"]][-1]
    link = next(word for word in mail["body"].split() if "accept-invite?token=" in word)
    assert link.startswith("http://127.0.0.1:8000/accept-invite?token=")
    return str(parse_qs(urlparse(link).query)["token"][0])


def create(api: Api, token: str, email: str = "jane@acme.example", **extra: Any) -> Any:
    body = {"email": email, "first_name": "Jane", "last_name": "Doe", **extra}
    return api.call("POST", "/admin/users", body, token=token)


def seats(api: Api) -> dict[str, int]:
    return dict(
        api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY}).json_body["seats"]
    )


def test_creating_a_user_takes_a_seat_and_joins_the_default_groups(api: Api, admin: str) -> None:
    response = create(api, admin, email="Jane@Acme.Example", title="Nurse", role="member")
    assert response.status_code == 201
    user = response.json_body
    assert (user["email"], user["status"], user["role"], user["title"]) == (
        "jane@acme.example",
        "invited",
        "member",
        "Nurse",
    )
    assert user["invitation"] is None
    assert seats(api) == {"used": 2, "total": 50}
    groups = GroupRepository(Table()).list_of_user("acme", user["id"])
    assert sorted(g.name for g in groups) == ["Admin Announcements", "All Of Us"]
    assert sent_emails() == []  # no invitation asked for: nobody is emailed


def test_an_email_is_unique_in_its_domain_whatever_its_case(api: Api, admin: str) -> None:
    create(api, admin)
    again = create(api, admin, email="JANE@acme.example")
    assert error_of(again) == (409, "user_exists")
    assert seats(api)["used"] == 2


def test_seats_run_out(api: Api) -> None:
    api.provision("acme", seats=2)
    token = api.login("acme").json_body["token"]
    assert create(api, token, email="one@acme.example").status_code == 201
    full = create(api, token, email="two@acme.example")
    assert error_of(full) == (403, "seat_limit_reached")
    assert seats(api) == {"used": 2, "total": 2}


def test_invitation_email_accept_and_sign_in(api: Api, admin: str) -> None:
    created = create(api, admin, send_invite=True).json_body
    assert created["invitation"]["sent"] is True
    mail = sent_emails()[-1]
    assert mail["to"] == ["jane@acme.example"]
    assert "acme" in mail["subject"]
    token = invite_token("jane@acme.example")
    accepted = api.call(
        "POST", "/auth/accept-invite", {"token": token, "password": NEW_PASSWORD, "first_name": "Janet"}
    )
    assert accepted.status_code == 200
    assert accepted.json_body["user"]["status"] == "active"
    assert accepted.json_body["user"]["first_name"] == "Janet"
    me = api.call("GET", "/me", token=accepted.json_body["token"]).json_body
    assert me["email"] == "jane@acme.example"
    assert api.login("acme", email="jane@acme.example", password=NEW_PASSWORD).status_code == 200
    reused = api.call("POST", "/auth/accept-invite", {"token": token, "password": NEW_PASSWORD})
    assert error_of(reused) == (401, "invalid_invite")
    audit = [e["action"] for e in api.call("GET", "/admin/audit", token=admin).json_body["items"]]
    assert audit[:2] == ["user.invite_accepted", "user.created"]


def test_invitations_expire_after_seven_days(api: Api, admin: str, clock: Any) -> None:
    create(api, admin, send_invite=True)
    token = invite_token("jane@acme.example")
    clock.advance(days=7, seconds=1)
    expired = api.call("POST", "/auth/accept-invite", {"token": token, "password": NEW_PASSWORD})
    assert error_of(expired) == (410, "invite_expired")


def test_a_fresh_invitation_kills_the_old_link(api: Api, admin: str) -> None:
    user = create(api, admin, send_invite=True).json_body
    old = invite_token("jane@acme.example")
    resent = api.call("POST", f"/admin/users/{user['id']}/invite", token=admin)
    assert resent.status_code == 200 and resent.json_body["invitation"]["sent"] is True
    new = invite_token("jane@acme.example")
    assert new != old
    assert error_of(api.call("POST", "/auth/accept-invite", {"token": old, "password": NEW_PASSWORD})) == (
        401,
        "invalid_invite",
    )
    assert (
        api.call("POST", "/auth/accept-invite", {"token": new, "password": NEW_PASSWORD}).status_code == 200
    )
    again = api.call("POST", f"/admin/users/{user['id']}/invite", token=admin)
    assert error_of(again) == (409, "user_not_invited")


@pytest.mark.parametrize(
    ("token", "code"),
    [("garbage", "invalid_invite"), ("acme.01m8a7cynkbvze55jkdypexhtp." + "x" * 43, "invalid_invite")],
)
def test_bad_invitation_tokens(api: Api, admin: str, token: str, code: str) -> None:
    assert error_of(api.call("POST", "/auth/accept-invite", {"token": token, "password": NEW_PASSWORD})) == (
        401,
        code,
    )


def test_accepting_checks_the_password(api: Api, admin: str) -> None:
    create(api, admin, send_invite=True)
    token = invite_token("jane@acme.example")
    weak = api.call("POST", "/auth/accept-invite", {"token": token, "password": "password123"})
    assert error_of(weak) == (400, "weak_password")
    assert (
        api.call("POST", "/auth/accept-invite", {"token": token, "password": NEW_PASSWORD}).status_code == 200
    )


def test_the_invitation_page_is_served(api: Api) -> None:
    page = api.client.http.get("/accept-invite?token=abc")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert b"auth/accept-invite" in page.body


def test_search_by_prefix_of_first_last_or_email(api: Api, admin: str) -> None:
    for email, first, last in [
        ("zoe@acme.example", "Zoe", "Adams"),
        ("adam@acme.example", "Adam", "Zeller"),
        ("bob@acme.example", "Bob", "Zimmer"),
    ]:
        api.call(
            "POST", "/admin/users", {"email": email, "first_name": first, "last_name": last}, token=admin
        )

    def names(path: str) -> list[str]:
        return [u["email"] for u in api.call("GET", path, token=admin).json_body["items"]]

    # ordered by the matched token: "ada" (Ada Admin), "adam", "adams" (Zoe Adams)
    assert names("/admin/users?q=AD") == ["admin@acme.example", "adam@acme.example", "zoe@acme.example"]
    assert names("/admin/users?q=z") == ["adam@acme.example", "bob@acme.example", "zoe@acme.example"]
    assert names("/admin/users?q=bob%40") == ["bob@acme.example"]
    assert names("/admin/users?q=nobody") == []
    assert names("/admin/users?status=active") == ["admin@acme.example"]
    assert len(names("/admin/users")) == 4


def test_search_pages_with_a_cursor_and_no_repeats(api: Api, admin: str) -> None:
    for n in range(7):
        api.call(
            "POST",
            "/admin/users",
            {"email": f"sam{n}@acme.example", "first_name": f"Sam{n}", "last_name": "Samson"},
            token=admin,
        )
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        body = api.call("GET", f"/admin/users?q=sam&limit=3&cursor={cursor}", token=admin).json_body
        seen += [u["email"] for u in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"sam{n}@acme.example" for n in range(7)]


def test_bad_list_parameters(api: Api, admin: str) -> None:
    assert error_of(api.call("GET", "/admin/users?status=gone", token=admin)) == (400, "invalid_enum")
    assert error_of(api.call("GET", "/admin/users?q=a&cursor=bogus", token=admin)) == (400, "invalid_cursor")


def test_read_and_change_a_user(api: Api, admin: str) -> None:
    user = create(api, admin).json_body
    assert (
        api.call("GET", f"/admin/users/{user['id']}", token=admin).json_body["email"] == "jane@acme.example"
    )
    changed = api.call(
        "PATCH",
        f"/admin/users/{user['id']}",
        {"last_name": "Smith", "phone": "+1 555 0100", "role": "admin"},
        token=admin,
    )
    assert changed.status_code == 200
    assert (changed.json_body["last_name"], changed.json_body["phone"], changed.json_body["role"]) == (
        "Smith",
        "+1 555 0100",
        "admin",
    )
    found = api.call("GET", "/admin/users?q=smi", token=admin).json_body["items"]
    assert [u["id"] for u in found] == [user["id"]]
    assert api.call("GET", "/admin/users?q=doe", token=admin).json_body["items"] == []
    bad = api.call("PATCH", f"/admin/users/{user['id']}", {"role": "owner"}, token=admin)
    assert error_of(bad) == (400, "invalid_enum")


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(api: Api, admin: str) -> None:
    me = api.call("GET", "/me", token=admin).json_body
    assert error_of(api.call("PATCH", f"/admin/users/{me['id']}", {"role": "member"}, token=admin)) == (
        409,
        "last_admin",
    )
    other = add_user("acme", "second@acme.example", role=Role.ADMIN)
    Table().put(
        {
            **DomainRepository.to_item(DomainRepository(Table()).get("acme")),  # type: ignore[arg-type]
            "active_admins": 2,
        }
    )
    second = api.login("acme", email="second@acme.example").json_body["token"]
    assert error_of(api.call("POST", f"/admin/users/{me['id']}/deactivate", token=admin)) == (
        409,
        "cannot_deactivate_self",
    )
    assert api.call("POST", f"/admin/users/{me['id']}/deactivate", token=second).status_code == 200
    assert error_of(api.call("POST", f"/admin/users/{other.id}/deactivate", token=second)) == (
        409,
        "cannot_deactivate_self",
    )
    assert error_of(api.call("PATCH", f"/admin/users/{other.id}", {"role": "member"}, token=second)) == (
        409,
        "last_admin",
    )


def test_deactivation_ends_tokens_frees_the_seat_and_keeps_groups(api: Api, admin: str) -> None:
    user = create(api, admin, send_invite=True).json_body
    accepted = api.call(
        "POST", "/auth/accept-invite", {"token": invite_token("jane@acme.example"), "password": NEW_PASSWORD}
    ).json_body
    token = accepted["token"]
    assert seats(api)["used"] == 2
    done = api.call("POST", f"/admin/users/{user['id']}/deactivate", token=admin)
    assert done.json_body["status"] == "deactivated"
    assert error_of(api.call("GET", "/me", token=token)) == (401, "invalid_token")
    assert error_of(api.login("acme", email="jane@acme.example", password=NEW_PASSWORD)) == (
        403,
        "user_deactivated",
    )
    assert seats(api)["used"] == 1
    assert len(GroupRepository(Table()).list_of_user("acme", user["id"])) == 2
    again = api.call("POST", f"/admin/users/{user['id']}/deactivate", token=admin)
    assert again.status_code == 200 and again.json_body["status"] == "deactivated"
    actions = [e["action"] for e in api.call("GET", "/admin/audit", token=admin).json_body["items"]]
    assert actions.count("user.deactivated") == 1


def test_activation_takes_a_seat_and_rejoins_default_groups(api: Api, admin: str) -> None:
    user = create(api, admin, send_invite=True).json_body
    api.call(
        "POST", "/auth/accept-invite", {"token": invite_token("jane@acme.example"), "password": NEW_PASSWORD}
    )
    api.call("POST", f"/admin/users/{user['id']}/deactivate", token=admin)
    group_id = api.call("GET", "/admin/groups?default=true", token=admin).json_body["items"][0]["id"]
    Table().delete(f"D#acme#G#{group_id}", f"MEMBER#{user['id']}")  # as if removed while away
    back = api.call("POST", f"/admin/users/{user['id']}/activate", token=admin)
    assert back.status_code == 200 and back.json_body["status"] == "active"
    assert seats(api)["used"] == 2
    assert len(GroupRepository(Table()).list_of_user("acme", user["id"])) == 2
    assert api.login("acme", email="jane@acme.example", password=NEW_PASSWORD).status_code == 200
    assert (
        api.call("POST", f"/admin/users/{user['id']}/activate", token=admin).json_body["status"] == "active"
    )


def test_activation_needs_a_free_seat(api: Api) -> None:
    api.provision("acme", seats=2)
    admin = api.login("acme").json_body["token"]
    first = create(api, admin, email="one@acme.example").json_body
    api.call("POST", f"/admin/users/{first['id']}/deactivate", token=admin)
    create(api, admin, email="two@acme.example")
    assert error_of(api.call("POST", f"/admin/users/{first['id']}/activate", token=admin)) == (
        403,
        "seat_limit_reached",
    )


def test_a_never_accepted_user_goes_back_to_invited(api: Api, admin: str) -> None:
    user = create(api, admin).json_body
    api.call("POST", f"/admin/users/{user['id']}/deactivate", token=admin)
    assert (
        api.call("POST", f"/admin/users/{user['id']}/activate", token=admin).json_body["status"] == "invited"
    )


def test_user_input_is_checked(api: Api, admin: str) -> None:
    no_name = api.call("POST", "/admin/users", {"email": "x@acme.example", "last_name": "X"}, token=admin)
    assert error_of(no_name) == (400, "missing_field")
    assert error_of(create(api, admin, email="not-an-email")) == (400, "invalid_email")
    assert error_of(create(api, admin, role="owner")) == (400, "invalid_enum")
    assert error_of(create(api, admin, send_invite="yes")) == (400, "invalid_field")
    assert error_of(api.call("GET", "/admin/users/01m8a7cynkbvze55jkdypexhtp", token=admin)) == (
        404,
        "user_not_found",
    )


def test_members_get_403_on_user_admin_routes(api: Api, admin: str) -> None:
    member = add_user("acme", "mo@acme.example", status=UserStatus.ACTIVE)
    token = api.login("acme", email="mo@acme.example").json_body["token"]
    for method, path in [
        ("GET", "/admin/users"),
        ("POST", "/admin/users"),
        ("GET", f"/admin/users/{member.id}"),
        ("PATCH", f"/admin/users/{member.id}"),
        ("POST", f"/admin/users/{member.id}/invite"),
        ("POST", f"/admin/users/{member.id}/deactivate"),
        ("POST", f"/admin/users/{member.id}/activate"),
        ("GET", "/admin/groups"),
        ("PUT", f"/admin/groups/{member.id}/default"),
        ("GET", f"/admin/jobs/{member.id}"),
    ]:
        assert error_of(api.call(method, path, {}, token=token)) == (403, "forbidden"), (method, path)
        assert error_of(api.call(method, path, {})) == (401, "unauthenticated"), (method, path)
