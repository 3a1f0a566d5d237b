"""The lists people expect (issue 14): the operator's domains, a domain's jobs, my chats and a
group's members — order, paging to the end, filters, cursors bound to their list and filters,
who may read them, and tenancy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.core import ids
from chalicelib.domain.jobs import Job
from chalicelib.domain.models import DomainStatus
from chalicelib.repositories import keys
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.jobs import JobRepository
from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.tenancy_content import add_member, create_group, post, sign_in
from tests.integration.test_user_deletion import drain_jobs

KEY = {"X-Platform-Key": PLATFORM_KEY}


def get(api: Api, path: str, token: str | None = None, headers: dict[str, str] | None = None) -> Any:
    response = api.call("GET", path, token=token, headers=headers)
    assert response.status_code == 200, response.body
    assert set(response.json_body) == {"items", "next_cursor"}, response.json_body
    return response.json_body


def every_page(
    api: Api, path: str, token: str | None = None, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every item of a list, read a page at a time through next_cursor (`path` holds a `?`)."""
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(50):
        body = get(api, f"{path}&cursor={quote(cursor)}" if cursor else path, token, headers)
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("the list never ended")


def first_cursor(api: Api, path: str, token: str | None = None, headers: dict[str, str] | None = None) -> str:
    cursor = get(api, path, token, headers)["next_cursor"]
    assert cursor
    return str(cursor)


# --- GET /platform/domains -------------------------------------------------------------------------


def _suspend(name: str) -> None:
    """What a suspension will write: the META item and the listing entry, in one transaction."""
    domains = DomainRepository(Table())
    domain = domains.get(name)
    assert domain is not None
    Table().transact(domains.status_change_ops(domain, DomainStatus.SUSPENDED))


def test_the_operators_domains_newest_first_each_as_read_alone(api: Api, clock: Any) -> None:
    for name in ("alpha", "bravo", "charlie"):
        assert api.provision(name).status_code == 201
        clock.advance(minutes=1)
    listed = get(api, "/platform/domains", headers=KEY)
    assert [d["domain"] for d in listed["items"]] == ["charlie", "bravo", "alpha"]
    assert listed["next_cursor"] is None
    for item in listed["items"]:
        alone = api.call("GET", f"/platform/domains/{item['domain']}", headers=KEY).json_body
        assert item == alone
    # seats move on the META item; the list shows them as they are now
    token = api.login("bravo").json_body["token"]
    body = {"email": "new@bravo.example", "first_name": "N", "last_name": "U"}
    assert api.call("POST", "/admin/users", body, token=token).status_code == 201
    bravo = next(d for d in get(api, "/platform/domains", headers=KEY)["items"] if d["domain"] == "bravo")
    assert bravo["seats"]["used"] == 2
    for limit in (1, 2):
        paged = every_page(api, f"/platform/domains?limit={limit}", headers=KEY)
        assert [d["domain"] for d in paged] == ["charlie", "bravo", "alpha"]


def test_the_status_filter_reads_its_own_partition(api: Api, clock: Any) -> None:
    for name in ("alpha", "bravo", "charlie", "delta"):
        assert api.provision(name).status_code == 201
        clock.advance(minutes=1)
    _suspend("bravo")
    _suspend("delta")
    active = every_page(api, "/platform/domains?status=active&limit=1", headers=KEY)
    assert [d["domain"] for d in active] == ["charlie", "alpha"]
    suspended = every_page(api, "/platform/domains?status=suspended&limit=1", headers=KEY)
    assert [(d["domain"], d["status"]) for d in suspended] == [("delta", "suspended"), ("bravo", "suspended")]
    assert get(api, "/platform/domains?status=deleting", headers=KEY)["items"] == []
    everything = every_page(api, "/platform/domains?limit=3", headers=KEY)
    assert [d["domain"] for d in everything] == ["delta", "charlie", "bravo", "alpha"]
    # the entry moved: one entry a domain, under its current status
    meta = Table().get(*DomainRepository.key("bravo"))
    assert meta is not None and meta["status"] == "suspended"
    entries = Table().query(keys.platform_domains_pk()).items
    assert [e["domain"] for e in entries] == ["alpha", "bravo", "charlie", "delta"]
    bravo = next(e for e in entries if e["domain"] == "bravo")
    assert bravo["sk"] == keys.platform_domain_sk(meta["created_at"], "bravo")
    assert (bravo["status"], bravo["gsi2pk"]) == ("suspended", "PLATFORM#DOMAINS#suspended")


def test_domain_list_input_and_cursors(api: Api, clock: Any) -> None:
    for name in ("alpha", "bravo", "charlie"):
        assert api.provision(name).status_code == 201
        clock.advance(minutes=1)
    answer = api.call("GET", "/platform/domains?status=gone", headers=KEY)
    assert error_of(answer) == (400, "invalid_enum") and "status" in answer.json_body["error"]["message"]
    assert error_of(api.call("GET", "/platform/domains?limit=0", headers=KEY)) == (400, "invalid_field")
    unfiltered = first_cursor(api, "/platform/domains?limit=1", headers=KEY)
    active = first_cursor(api, "/platform/domains?status=active&limit=1", headers=KEY)
    for path in (
        f"/platform/domains?status=active&cursor={quote(unfiltered)}",
        f"/platform/domains?cursor={quote(active)}",
        f"/platform/domains?status=suspended&cursor={quote(active)}",
        "/platform/domains?cursor=forged.AAAA",
    ):
        assert error_of(api.call("GET", path, headers=KEY)) == (400, "invalid_cursor"), path
    # the operator's key, nothing else
    admin = api.login("alpha").json_body["token"]
    assert error_of(api.call("GET", "/platform/domains")) == (401, "invalid_platform_key")
    assert error_of(api.call("GET", "/platform/domains", headers={"X-Platform-Key": "wrong"})) == (
        401,
        "invalid_platform_key",
    )
    assert error_of(api.call("GET", "/platform/domains", token=admin)) == (401, "invalid_platform_key")


# --- GET /admin/jobs ---------------------------------------------------------------------------------


def _job(domain: str, kind: str, status: str, at_ms: int) -> Job:
    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    job = Job(
        id=ids.new_id(at_ms),
        domain=domain,
        kind=kind,
        status=status,
        done=0,
        total=1,
        created_by="admin@example",
        created_at=moment,
        updated_at=moment,
    )
    JobRepository(Table()).create(job)
    return job


@pytest.fixture
def jobs(api: Api) -> dict[str, Any]:
    """acme with five jobs of several statuses (oldest first), globex with one."""
    world: dict[str, Any] = {"acme": api.admin_token("acme"), "globex": api.admin_token("globex")}
    base = 1_790_000_000_000
    statuses = ("succeeded", "failed", "queued", "running", "succeeded")
    world["acme_jobs"] = [_job("acme", f"kind{n}", s, base + n * 1000) for n, s in enumerate(statuses)]
    world["globex_job"] = _job("globex", "globex_kind", "succeeded", base + 10_000)
    return world


def test_a_domains_jobs_newest_first_as_read_alone(api: Api, jobs: dict[str, Any]) -> None:
    acme = jobs["acme"]
    newest_first = [j.id for j in reversed(jobs["acme_jobs"])]
    listed = get(api, "/admin/jobs", acme)
    assert [j["id"] for j in listed["items"]] == newest_first
    assert listed["next_cursor"] is None
    for item in listed["items"]:
        assert item == api.call("GET", f"/admin/jobs/{item['id']}", token=acme).json_body
    for limit in (1, 2):
        assert [j["id"] for j in every_page(api, f"/admin/jobs?limit={limit}", acme)] == newest_first
    # tenancy: globex's job never shows in acme's list, nor acme's in globex's
    assert jobs["globex_job"].id not in newest_first
    assert [j["id"] for j in get(api, "/admin/jobs", jobs["globex"])["items"]] == [jobs["globex_job"].id]


def test_the_job_status_filter(api: Api, jobs: dict[str, Any]) -> None:
    acme, made = jobs["acme"], jobs["acme_jobs"]
    succeeded = every_page(api, "/admin/jobs?status=succeeded&limit=1", acme)
    assert [j["id"] for j in succeeded] == [made[4].id, made[0].id]
    assert {j["status"] for j in succeeded} == {"succeeded"}
    for status, job in (("failed", made[1]), ("queued", made[2]), ("running", made[3])):
        assert [j["id"] for j in get(api, f"/admin/jobs?status={status}", acme)["items"]] == [job.id]
    answer = api.call("GET", "/admin/jobs?status=done", token=acme)
    assert error_of(answer) == (400, "invalid_enum") and "status" in answer.json_body["error"]["message"]
    # a cursor is good for its own list and filter only
    unfiltered = first_cursor(api, "/admin/jobs?limit=1", acme)
    filtered = first_cursor(api, "/admin/jobs?status=succeeded&limit=1", acme)
    for path in (
        f"/admin/jobs?status=succeeded&cursor={quote(unfiltered)}",
        f"/admin/jobs?cursor={quote(filtered)}",
        f"/admin/jobs?status=failed&cursor={quote(filtered)}",
        f"/admin/audit?cursor={quote(unfiltered)}",
    ):
        assert error_of(api.call("GET", path, token=acme)) == (400, "invalid_cursor"), path
    # another domain's cursor
    assert error_of(api.call("GET", f"/admin/jobs?cursor={quote(unfiltered)}", token=jobs["globex"])) == (
        400,
        "invalid_cursor",
    )


def test_a_job_moves_between_status_lists_as_it_runs(api: Api, client: Any) -> None:
    admin = api.admin_token("acme")
    victim, _ = sign_in(api, "acme", "vic@acme.example")
    job_id = api.call("DELETE", f"/admin/users/{victim}", token=admin).json_body["job_id"]
    assert [j["id"] for j in get(api, "/admin/jobs?status=queued", admin)["items"]] == [job_id]
    drain_jobs(client)
    assert get(api, "/admin/jobs?status=queued", admin)["items"] == []
    assert [j["id"] for j in get(api, "/admin/jobs?status=succeeded", admin)["items"]] == [job_id]
    assert [j["status"] for j in get(api, "/admin/jobs", admin)["items"]] == ["succeeded"]


def test_only_domain_admins_list_jobs(api: Api) -> None:
    api.admin_token("acme")
    _, member = sign_in(api, "acme", "mo@acme.example")
    assert error_of(api.call("GET", "/admin/jobs")) == (401, "unauthenticated")
    assert error_of(api.call("GET", "/admin/jobs", token=member)) == (403, "forbidden")


# --- GET /chats ----------------------------------------------------------------------------------------


def _chats(api: Api, token: str, query: str = "") -> list[tuple[str, str]]:
    return [(c["user"]["id"], c["last_message_at"]) for c in get(api, f"/chats{query}", token)["items"]]


def test_my_chats_most_recent_first(api: Api, clock: Any) -> None:
    api.admin_token("acme")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, _ = sign_in(api, "acme", "ann@acme.example")
    zed_id, zed = sign_in(api, "acme", "zed@acme.example")
    for other in (eve_id, ann_id, zed_id):
        clock.advance(minutes=1)
        assert post(api, mo, f"/chats/{other}/messages", "hello").status_code == 201
    assert _chats(api, mo) == [
        (zed_id, "2026-11-24T12:03:00Z"),
        (ann_id, "2026-11-24T12:02:00Z"),
        (eve_id, "2026-11-24T12:01:00Z"),
    ]
    first = get(api, "/chats", mo)["items"][0]
    assert first == {
        "user": {"id": zed_id, "name": "Mo Member", "email": "zed@acme.example"},
        "last_message_at": "2026-11-24T12:03:00Z",
    }
    # a newer message, from either side, moves the chat to the top
    clock.advance(minutes=1)
    assert post(api, eve, f"/chats/{mo_id}/messages", "back at you").status_code == 201
    assert [u for u, _ in _chats(api, mo)] == [eve_id, zed_id, ann_id]
    assert _chats(api, mo)[0] == (eve_id, "2026-11-24T12:04:00Z")
    assert _chats(api, eve) == [(mo_id, "2026-11-24T12:04:00Z")]
    assert _chats(api, zed) == [(mo_id, "2026-11-24T12:03:00Z")]
    for limit in (1, 2):
        paged = every_page(api, f"/chats?limit={limit}", mo)
        assert [c["user"]["id"] for c in paged] == [eve_id, zed_id, ann_id]
    # one index entry a chat: the chat moved, it was not listed twice
    assert len(every_page(api, "/chats?limit=1", mo)) == 3


def test_a_message_committed_late_never_moves_a_chat_back(api: Api, clock: Any) -> None:
    api.admin_token("acme")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, _ = sign_in(api, "acme", "ann@acme.example")
    clock.advance(minutes=5)
    assert post(api, mo, f"/chats/{eve_id}/messages", "later").status_code == 201
    clock.advance(minutes=-3)  # a post stamped earlier lands after it (two Lambdas at once)
    assert post(api, eve, f"/chats/{mo_id}/messages", "earlier").status_code == 201
    assert post(api, mo, f"/chats/{ann_id}/messages", "to ann").status_code == 201
    assert _chats(api, mo) == [(eve_id, "2026-11-24T12:05:00Z"), (ann_id, "2026-11-24T12:02:00Z")]
    assert _chats(api, eve) == [(mo_id, "2026-11-24T12:05:00Z")]
    texts = [m["text"] for m in get(api, f"/chats/{eve_id}/messages", mo)["items"]]
    assert sorted(texts) == ["earlier", "later"]  # both were posted


def test_chat_cursors_and_tenancy(api: Api, clock: Any) -> None:
    api.admin_token("acme")
    globex = api.admin_token("globex")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, _ = sign_in(api, "acme", "ann@acme.example")
    gus_id, gus = sign_in(api, "globex", "gus@globex.example")
    for other in (eve_id, ann_id):
        clock.advance(seconds=1)
        post(api, mo, f"/chats/{other}/messages", "hi")
    post(api, gus, f"/chats/{mo_id}/messages", "cross-domain")  # 404: mo is not a globex user
    mine = first_cursor(api, "/chats?limit=1", mo)
    # another user's cursor (same domain), another domain's, another list's, a forged one
    assert error_of(api.call("GET", f"/chats?cursor={quote(mine)}", token=eve)) == (400, "invalid_cursor")
    assert error_of(api.call("GET", f"/chats?cursor={quote(mine)}", token=gus)) == (400, "invalid_cursor")
    assert error_of(api.call("GET", f"/groups?cursor={quote(mine)}", token=mo)) == (400, "invalid_cursor")
    assert error_of(api.call("GET", "/chats?cursor=x.y", token=mo)) == (400, "invalid_cursor")
    assert get(api, "/chats", gus)["items"] == [] and get(api, "/chats", globex)["items"] == []
    assert {c["user"]["id"] for c in every_page(api, "/chats?limit=1", mo)} == {eve_id, ann_id}
    assert gus_id not in {c["user"]["id"] for c in get(api, "/chats", mo)["items"]}
    assert error_of(api.call("GET", "/chats")) == (401, "unauthenticated")


def test_a_deleted_users_chats_leave_the_list(api: Api, client: Any, clock: Any) -> None:
    admin = api.admin_token("acme")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, _ = sign_in(api, "acme", "eve@acme.example")
    ann_id, ann = sign_in(api, "acme", "ann@acme.example")
    post(api, mo, f"/chats/{eve_id}/messages", "hi eve")
    clock.advance(seconds=1)
    post(api, ann, f"/chats/{eve_id}/messages", "hi eve, from ann")
    post(api, ann, f"/chats/{mo_id}/messages", "hi mo, from ann")
    assert api.call("DELETE", f"/admin/users/{eve_id}", token=admin).status_code == 202
    assert [u for u, _ in _chats(api, mo)] == [ann_id]  # eve: hidden as soon as the deletion begins
    assert [u for u, _ in _chats(api, ann)] == [mo_id]
    drain_jobs(client)
    assert [u for u, _ in _chats(api, mo)] == [ann_id] and [u for u, _ in _chats(api, ann)] == [mo_id]

    # nothing of eve's chats is left in the list index, on either side
    def listed(user: str) -> list[str]:
        items = Table().query(keys.user_chats_gsi1pk("acme", user), index="gsi1").items
        return [i["other_id"] for i in items]

    assert listed(mo_id) == [ann_id] and listed(ann_id) == [mo_id] and listed(eve_id) == []


# --- GET /groups/{id}/members ---------------------------------------------------------------------------


def test_a_groups_members_by_user_id(api: Api, clock: Any) -> None:
    admin = api.admin_token("acme")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    ann_id, ann = sign_in(api, "acme", "ann@acme.example")
    group = create_group(api, mo, "Project X")
    clock.advance(minutes=1)
    assert add_member(api, mo, group["id"], eve_id, "admin").status_code == 201
    assert add_member(api, mo, group["id"], ann_id).status_code == 201
    path = f"/groups/{group['id']}/members"
    listed = get(api, path, eve)
    expected = sorted([(mo_id, "admin"), (eve_id, "admin"), (ann_id, "member")])
    assert [(m["user"]["id"], m["role"]) for m in listed["items"]] == expected
    mo_item = next(m for m in listed["items"] if m["user"]["id"] == mo_id)
    assert mo_item == {
        "group_id": group["id"],
        "user": {"id": mo_id, "name": "Mo Member", "email": "mo@acme.example"},
        "role": "admin",
        "joined_at": "2026-11-24T12:00:00Z",
    }
    ann_item = next(m for m in listed["items"] if m["user"]["id"] == ann_id)
    assert ann_item["joined_at"] == "2026-11-24T12:01:00Z"
    for limit in (1, 2):
        paged = every_page(api, f"{path}?limit={limit}", ann)
        assert [(m["user"]["id"], m["role"]) for m in paged] == expected
    # a domain admin who is not a member reads it too (they manage every group)
    assert [m["user"]["id"] for m in get(api, path, admin)["items"]] == [i for i, _ in expected]
    # a member who leaves is gone from the list
    assert api.call("DELETE", f"{path}/{ann_id}", token=ann).status_code == 204
    assert ann_id not in {m["user"]["id"] for m in get(api, path, mo)["items"]}


def test_who_may_list_a_groups_members(api: Api) -> None:
    api.admin_token("acme")
    globex = api.admin_token("globex")
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    _, outsider = sign_in(api, "acme", "out@acme.example")
    group = create_group(api, mo, "Closed")
    other = create_group(api, mo, "Other")
    add_member(api, mo, other["id"], mo_id)
    path = f"/groups/{group['id']}/members"
    assert error_of(api.call("GET", path)) == (401, "unauthenticated")
    assert error_of(api.call("GET", path, token=outsider)) == (404, "group_not_found")
    assert error_of(api.call("GET", path, token=globex)) == (404, "group_not_found")
    assert error_of(api.call("GET", "/groups/not-an-id/members", token=mo)) == (404, "group_not_found")
    assert error_of(api.call("GET", f"/groups/{ids.new_id()}/members", token=mo)) == (404, "group_not_found")
    # a cursor is good for its own group only
    for n in range(2):
        add_member(api, mo, group["id"], sign_in(api, "acme", f"m{n}@acme.example")[0])
        add_member(api, mo, other["id"], sign_in(api, "acme", f"o{n}@acme.example")[0])
    cursor = first_cursor(api, f"{path}?limit=1", mo)
    refused = api.call("GET", f"/groups/{other['id']}/members?cursor={quote(cursor)}", token=mo)
    assert error_of(refused) == (400, "invalid_cursor")
    assert error_of(api.call("GET", f"/groups?cursor={quote(cursor)}", token=mo)) == (400, "invalid_cursor")
