"""§1 Platform: provisioning and reading domains, through the routes, on moto."""

from typing import Any

import pytest

from chalicelib.domain.models import GroupRole
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.users import UserRepository
from tests.conftest import PLATFORM_KEY, Api, error_of


def test_provisioning_creates_domain_admin_and_default_groups(api: Api) -> None:
    response = api.provision("acme", seats=10)
    assert response.status_code == 201
    body = response.json_body
    assert body["domain"] == "acme" and body["status"] == "active"
    assert body["seats"] == {"used": 1, "total": 10}
    assert body["hipaa"] is False and body["retention_days"] is None
    admin = body["admin"]
    assert admin["email"] == "admin@acme.example"
    assert admin["role"] == "admin" and admin["status"] == "active"
    assert "password_hash" not in admin and "argon2" not in str(body)
    assert sorted(g["name"] for g in body["default_groups"]) == ["Admin Announcements", "All Of Us"]

    table = Table()
    groups = GroupRepository(table).list_of_user("acme", admin["id"])
    assert [g.name for g in groups] == ["Admin Announcements", "All Of Us"]
    assert all(g.is_default and g.created_by is None for g in groups)
    members = table.query(f"D#acme#G#{groups[0].id}", sk_prefix="MEMBER#").items
    assert [(m["user_id"], m["role"]) for m in members] == [(admin["id"], GroupRole.MEMBER.value)]
    stored = UserRepository(table).get("acme", admin["id"])
    assert stored is not None and stored.email == "admin@acme.example"


def test_provisioning_is_audited(api: Api) -> None:
    token = api.admin_token("acme")
    entries = api.call("GET", "/admin/audit", token=token).json_body["items"]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("platform", "domain.provisioned", "domain:acme")
    ]
    assert entries[0]["details"]["admin_email"] == "admin@acme.example"


def test_a_taken_name_is_a_conflict_and_changes_nothing(api: Api) -> None:
    first = api.provision("acme")
    again = api.provision(
        "acme",
        plan="enterprise",
        admin={
            "email": "other@acme.example",
            "first_name": "O",
            "last_name": "T",
            "password": "another long password",
        },
    )
    assert error_of(again) == (409, "domain_exists")
    domain = DomainRepository(Table()).get("acme")
    assert domain is not None and domain.plan.value == "business"
    assert api.login("acme", email="other@acme.example", password="another long password").status_code == 401
    assert first.status_code == 201


def test_hipaa_domain_on_enterprise_annual(api: Api) -> None:
    response = api.provision("clinic", plan="enterprise", billing="annual", hipaa=True)
    assert response.status_code == 201
    assert response.json_body["retention_days"] == 7
    assert response.json_body["seats"] == {"used": 1, "total": 50}


@pytest.mark.parametrize(("plan", "billing"), [("business", "annual"), ("enterprise", "monthly")])
def test_hipaa_needs_a_baa_plan(api: Api, plan: str, billing: str) -> None:
    response = api.provision("clinic", plan=plan, billing=billing, hipaa=True)
    assert error_of(response) == (400, "baa_requires_enterprise_annual")
    assert DomainRepository(Table()).get("clinic") is None


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"domain": "Bad_Name"}, "invalid_domain", "domain"),
        ({"domain": None}, "missing_field", "domain"),
        ({"plan": "gold"}, "invalid_enum", "plan"),
        ({"billing": 12}, "invalid_field", "billing"),
        ({"seats": 0}, "invalid_field", "seats"),
        ({"seats": "ten"}, "invalid_field", "seats"),
        ({"hipaa": "no"}, "invalid_field", "hipaa"),
        ({"admin": "me"}, "invalid_field", "admin"),
        (
            {
                "admin": {
                    "email": "not-an-email",
                    "first_name": "A",
                    "last_name": "B",
                    "password": "a long good password",
                }
            },
            "invalid_email",
            "admin.email",
        ),
        (
            {"admin": {"email": "a@b.co", "first_name": "A", "last_name": "B", "password": "short"}},
            "weak_password",
            "admin.password",
        ),
        (
            {"admin": {"email": "a@b.co", "last_name": "B", "password": "a long good password"}},
            "missing_field",
            "admin.first_name",
        ),
    ],
)
def test_bad_provisioning_input_names_the_field(
    api: Api, overrides: dict[str, Any], code: str, field: str
) -> None:
    response = api.provision("acme", **overrides)
    assert error_of(response) == (400, code)
    assert response.json_body["error"]["message"].startswith(f"{field}:")
    assert DomainRepository(Table()).get("acme") is None


@pytest.mark.parametrize("headers", [{}, {"X-Platform-Key": "wrong"}, {"X-Platform-Key": ""}])
def test_platform_routes_need_the_platform_key(api: Api, headers: dict[str, str]) -> None:
    body = {"domain": "acme"}
    assert error_of(api.call("POST", "/platform/domains", body, headers=headers)) == (
        401,
        "invalid_platform_key",
    )
    assert error_of(api.call("GET", "/platform/domains/acme", headers=headers)) == (
        401,
        "invalid_platform_key",
    )


def test_a_user_token_is_not_a_platform_key(api: Api) -> None:
    token = api.admin_token("acme")
    assert error_of(api.call("GET", "/platform/domains/acme", token=token)) == (401, "invalid_platform_key")


def test_reading_a_domain(api: Api) -> None:
    api.provision("acme")
    response = api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY})
    assert response.status_code == 200
    assert response.json_body["seats"] == {"used": 1, "total": 50}
    assert set(response.json_body) == {
        "domain",
        "plan",
        "billing",
        "seats",
        "hipaa",
        "retention_days",
        "status",
        "created_at",
    }
    missing = api.call("GET", "/platform/domains/nowhere", headers={"X-Platform-Key": PLATFORM_KEY})
    assert error_of(missing) == (404, "domain_not_found")
    odd = api.call("GET", "/platform/domains/NOT_A_NAME", headers={"X-Platform-Key": PLATFORM_KEY})
    assert error_of(odd) == (404, "domain_not_found")
