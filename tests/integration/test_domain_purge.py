"""§1 `DELETE /platform/domains/{domain}` (issue 17): only a suspended domain; a platform job
purges every item and object of the domain, through its own partitions, and nothing of any other
domain; afterwards the domain answers 404 and its name can be provisioned again."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.repositories.dynamo import Table
from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.slack_support import slack_group
from tests.integration.tenancy_content import add_member, create_group, post, sign_in, upload
from tests.integration.test_imports_api import deliver, drop

PLATFORM = {"X-Platform-Key": PLATFORM_KEY}
CSV = "Email,First Name,Last Name\nnew.one@acme.example,New,One\nbroken,Bad,Row\n"


def _table_items() -> list[dict[str, Any]]:
    """Every item of the table (a test may Scan; the code never does)."""
    table = Table()
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table.name}
    while True:
        page = aws.dynamodb().scan(**params)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _of(domain: str) -> list[str]:
    """The keys of every item that belongs to `domain`: in its partitions, or naming it."""
    found = []
    for item in _table_items():
        pk = item["pk"]["S"]
        named = item.get("domain", {}).get("S") == domain
        if pk == f"D#{domain}" or pk.startswith(f"D#{domain}#") or named:
            found.append(f"{pk} | {item['sk']['S']}")
    return sorted(found)


def _objects(domain: str) -> list[str]:
    listed = aws.s3().list_objects_v2(Bucket=get_settings().bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed if f"/{domain}/" in o["Key"])


def _platform(api: Api, method: str, path: str) -> Any:
    return api.call(method, path, headers=PLATFORM)


def _populate(api: Api, client: Any, domain: str) -> None:
    """Users, groups, messages, chats, files, an integration, a problem report, an import, a
    stranger's failed logins and a device: a bit of everything a domain holds."""
    admin = api.admin_token(domain)
    olga_id, olga = sign_in(api, domain, f"olga@{domain}.example")
    tom_id, tom = sign_in(api, domain, f"tom@{domain}.example")
    group = create_group(api, olga, "Olga's group")["id"]
    add_member(api, olga, group, tom_id)
    shared = upload(api, olga, b"olga's notes", "notes.txt")
    post(api, olga, f"/groups/{group}/messages", "hello group", [shared])
    upload(api, tom, b"never attached", "draft.txt")
    post(api, tom, f"/chats/{olga_id}/messages", "hi olga")
    post(api, olga, f"/chats/{tom_id}/messages", "hi tom")
    slack_group(api, admin)
    report = api.call(
        "POST",
        "/support/reports",
        {"description": "froze", "platform": "ios", "app_version": "3.2.1", "reporting_level": "all"},
        token=tom,
    )
    assert report.status_code == 201, report.body
    aws.s3().put_object(Bucket=get_settings().bucket, Key=f"reports/{domain}/x/logs.zip", Body=b"PK\x03\x04")
    drop("staff.csv", CSV, domain=domain)
    deliver(client)
    assert api.login(domain, email=f"stranger@{domain}.example", password="wrong one").status_code == 401
    assert api.login(domain, email=f"tom@{domain}.example", client_kind="ios").status_code == 200


@pytest.fixture
def two_domains(api: Api, client: Any) -> None:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    _populate(api, client, "acme")
    _populate(api, client, "globex")


def test_a_suspended_domain_is_purged_whole_and_nothing_else(
    api: Api, client: Any, two_domains: None
) -> None:
    globex_before, globex_objects = _of("globex"), _objects("globex")
    assert _of("acme") and _objects("acme")
    assert error_of(_platform(api, "DELETE", "/platform/domains/acme")) == (409, "domain_active")
    assert _platform(api, "POST", "/platform/domains/acme/suspend").status_code == 200
    started = _platform(api, "DELETE", "/platform/domains/acme")
    assert started.status_code == 202, started.body
    job_id = started.json_body["job_id"]
    again = _platform(api, "DELETE", "/platform/domains/acme")  # idempotent: the same job
    assert again.status_code == 202 and again.json_body["job_id"] == job_id
    deleting = _platform(api, "GET", "/platform/domains/acme").json_body
    assert deleting["status"] == "deleting"
    assert error_of(_platform(api, "POST", "/platform/domains/acme/resume")) == (409, "domain_deleting")
    assert error_of(api.login("acme")) == (403, "domain_suspended")
    assert error_of(api.provision("acme")) == (409, "domain_exists")

    drop("late.csv", CSV, domain="acme")  # an operator's drop while it is being deleted
    deliver(client)  # every job and S3 event message twice, as SQS may

    job = _platform(api, "GET", f"/platform/jobs/{job_id}").json_body
    assert job["status"] == "succeeded", job
    assert job["kind"] == "domain.delete"
    assert job["progress"]["done"] == job["progress"]["total"] > 0
    assert job["result"]["deleted_items"] > 0 and job["result"]["deleted_objects"] == len(globex_objects)
    assert _of("acme") == []
    assert _objects("acme") == []
    hooks = [i for i in _table_items() if i["pk"]["S"].startswith(("HOOK#", "SLACKCH#"))]
    assert [h["domain"]["S"] for h in hooks] == ["globex"]
    assert _of("globex") == globex_before and _objects("globex") == globex_objects
    assert error_of(_platform(api, "GET", "/platform/domains/acme")) == (404, "domain_not_found")
    listed = _platform(api, "GET", "/platform/domains").json_body["items"]
    assert [d["domain"] for d in listed] == ["globex"]


def test_the_name_is_free_again_with_nothing_of_the_old_domain(
    api: Api, client: Any, two_domains: None
) -> None:
    _platform(api, "POST", "/platform/domains/acme/suspend")
    _platform(api, "DELETE", "/platform/domains/acme")
    deliver(client)
    fresh = api.provision("acme")
    assert fresh.status_code == 201, fresh.body
    token = api.login("acme").json_body["token"]
    users = api.call("GET", "/admin/users", token=token).json_body["items"]
    assert [u["email"] for u in users] == ["admin@acme.example"]
    groups = api.call("GET", "/groups", token=token).json_body["items"]
    assert sorted(g["name"] for g in groups) == ["Admin Announcements", "All Of Us"]
    assert (
        api.call("GET", "/admin/audit", token=token).json_body["items"][-1]["action"] == "domain.provisioned"
    )
    assert api.call("GET", "/admin/jobs", token=token).json_body["items"] == []
    assert api.call("GET", "/admin/imports", token=token).json_body["items"] == []


def test_platform_jobs_are_the_operators_only(api: Api) -> None:
    token = api.admin_token("acme")
    assert error_of(api.call("GET", "/platform/jobs/01JD0000000000000000000000")) == (
        401,
        "invalid_platform_key",
    )
    assert error_of(_platform(api, "GET", "/platform/jobs/01JD0000000000000000000000")) == (
        404,
        "job_not_found",
    )
    assert error_of(_platform(api, "GET", "/platform/jobs/not-an-id")) == (404, "job_not_found")
    assert error_of(api.call("DELETE", "/platform/domains/acme", token=token)) == (
        401,
        "invalid_platform_key",
    )
    assert error_of(_platform(api, "DELETE", "/platform/domains/nosuch")) == (404, "domain_not_found")
    # an admin's jobs list never shows the operator's jobs, nor can an admin read one
    _platform(api, "POST", "/platform/domains/acme/suspend")
    job_id = _platform(api, "DELETE", "/platform/domains/acme").json_body["job_id"]
    assert _platform(api, "GET", f"/platform/jobs/{job_id}").json_body["status"] == "queued"


def test_hipaa_is_decided_at_provisioning_and_seats_never_drop_below_use(api: Api) -> None:
    hipaa = api.provision("clinic", plan="enterprise", billing="annual", hipaa=True)
    assert hipaa.status_code == 201, hipaa.body
    acme = api.admin_token("acme")
    patch = "/platform/domains/{}"
    assert error_of(api.call("PATCH", patch.format("clinic"), {"hipaa": False}, headers=PLATFORM)) == (
        409,
        "hipaa_permanent",
    )
    assert error_of(api.call("PATCH", patch.format("acme"), {"hipaa": True}, headers=PLATFORM)) == (
        409,
        "hipaa_requires_new_domain",
    )
    assert error_of(api.call("PATCH", patch.format("clinic"), {"billing": "monthly"}, headers=PLATFORM)) == (
        400,
        "baa_requires_enterprise_annual",
    )
    assert error_of(api.call("PATCH", patch.format("acme"), {"seats": 0}, headers=PLATFORM))[0] == 400
    api.call(
        "POST",
        "/admin/users",
        {"email": "mo@acme.example", "first_name": "Mo", "last_name": "Ng", "send_invite": False},
        token=acme,
    )
    assert error_of(api.call("PATCH", patch.format("acme"), {"seats": 1}, headers=PLATFORM)) == (
        409,
        "seats_in_use",
    )
    changed = api.call("PATCH", patch.format("clinic"), {"seats": 80, "hipaa": True}, headers=PLATFORM)
    assert changed.status_code == 200 and changed.json_body["seats"]["total"] == 80
    assert changed.json_body["hipaa"] is True and changed.json_body["retention_days"] == 7
    upgraded = api.call(
        "PATCH", patch.format("acme"), {"plan": "enterprise", "billing": "annual"}, headers=PLATFORM
    )
    assert upgraded.json_body["plan"] == "enterprise" and upgraded.json_body["hipaa"] is False
    token = api.login("clinic").json_body["token"]
    actions = [e["action"] for e in api.call("GET", "/admin/audit", token=token).json_body["items"]]
    assert actions[0] == "domain.terms_changed"


def test_a_job_that_is_not_the_domains_own_deletes_nothing(api: Api, client: Any) -> None:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    api.admin_token("acme")
    _platform(api, "POST", "/platform/domains/acme/suspend")
    job_id = _platform(api, "DELETE", "/platform/domains/acme").json_body["job_id"]
    before = _of("acme")
    # the domain names another job (as a domain provisioned again under the name would not name
    # this one at all): this job's step must refuse, and delete nothing
    Table().update("D#acme", "META", "SET purge_job_id = :other", {":other": "01JD0000000000000000000000"})
    deliver(client)
    job = _platform(api, "GET", f"/platform/jobs/{job_id}").json_body
    assert job["status"] == "failed" and "not being deleted by this job" in job["result"]["error"], job
    assert _of("acme") == before
