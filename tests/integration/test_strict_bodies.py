"""Bodies are read strictly (API.md §0): a field the call does not take answers 400
`unknown_field` naming it, on every route.

Generated over app.routes: every POST, PUT, PATCH and DELETE route is called, as a caller allowed
to reach its body, on real objects of one domain, with a valid body plus one field it does not
take (a route that takes no body: a body holding only that field), and must answer 400
`unknown_field` naming the field, changing nothing; then the same call without that field must
pass the body's checks. A new route fails test_every_body_route_is_walked until it has a CASE
here (or, if it truly cannot be reached, an entry in UNREACHABLE with the reason)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app import app
from chalicelib.core import aws
from chalicelib.core.clock import FixedClock
from chalicelib.core.config import get_settings
from tests.conftest import ADMIN_PASSWORD, PLATFORM_KEY, Api, error_of
from tests.integration.factories import add_user, sent_emails
from tests.integration.tenancy_content import add_member, create_group, sign_in, upload

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
UNKNOWN = "not_a_field"
PLATFORM = {"X-Platform-Key": PLATFORM_KEY}
NEW_PASSWORD = "a long and new passphrase 42"

BODY_ROUTES = {
    (path, method) for path, methods in app.routes.items() for method in methods if method in BODY_METHODS
}
# Routes no caller can bring to their body check, each with its reason. Empty: every route is reached.
UNREACHABLE: dict[tuple[str, str], str] = {}
# Bodies an outside service writes, to its own schema: read leniently on purpose (a field Slack
# adds tomorrow must not stop delivery), each with its reason. Their tests replay real payloads.
FOREIGN_BODIES: dict[tuple[str, str], str] = {
    ("/hooks/slack/{secret}", "POST"): "Slack's outgoing-webhook form (tests/fixtures/slack)",
    ("/hooks/slack/events", "POST"): "Slack's Events API envelopes (tests/fixtures/slack)",
    ("/hooks/mailchimp/{secret}", "POST"): "MailChimp's webhook form (tests/fixtures/mailchimp)",
}


@dataclass
class World:
    """One domain (acme) with an object of every kind a route names, and globex for the
    platform's per-domain routes."""

    api: Api
    clock: FixedClock
    admin: str  # acme's admin, signed in on the web before 2FA was switched on
    logout_token: str  # a token of its own, that POST /auth/logout revokes
    mo_id: str  # a member: the chat partner, in the group
    tia_id: str  # the target of the /admin/users/{user_id}/... routes
    vic_id: str  # the target of DELETE /admin/users/{user_id}
    ivy_id: str  # an invited user
    cleo_id: str  # added to the group
    group_id: str
    default_group_id: str  # the group PUT .../default marks
    device_id: str  # pat's phone, as the admin names it
    phone: str  # pat's app token, bound to that device
    import_id: str
    file_id: str  # an uploaded file of the admin
    challenge_id: str  # dan's open 2FA challenge (email)
    resend_challenge_id: str  # eve's open 2FA challenge (email)
    extra: dict[str, Any] = field(default_factory=dict)


def build_world(api: Api, clock: FixedClock) -> World:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    admin = api.admin_token("acme")
    assert api.provision("globex").status_code == 201
    logout_token = str(api.login("acme").json_body["token"])
    mo_id, _ = sign_in(api, "acme", "mo@acme.example")
    tia_id = add_user("acme", "tia@acme.example").id
    vic_id = add_user("acme", "vic@acme.example").id
    cleo_id = add_user("acme", "cleo@acme.example").id
    invited = api.call(
        "POST",
        "/admin/users",
        {"email": "ivy@acme.example", "first_name": "Ivy", "last_name": "Invited", "send_invite": True},
        token=admin,
    )
    assert invited.status_code == 201, invited.body
    group_id = create_group(api, admin, "Project X")["id"]
    assert add_member(api, admin, group_id, mo_id).status_code == 201
    default_group_id = create_group(api, admin, "Everyone soon")["id"]
    pat = add_user("acme", "pat@acme.example")
    app_login = api.login("acme", email="pat@acme.example", client_kind="ios", device_id="pat-phone")
    assert app_login.status_code == 200, app_login.body
    devices = api.call("GET", f"/admin/users/{pat.id}/devices", token=admin).json_body["items"]
    started = api.call("POST", "/admin/imports", {}, token=admin)
    assert started.status_code == 201, started.body
    file_id = upload(api, admin)
    two_factor = {"two_factor": "email", "validity_days": 0}
    assert api.call("PUT", "/admin/settings/security", two_factor, token=admin).status_code == 200
    challenges = []
    for email in ("dan@acme.example", "eve@acme.example"):
        add_user("acme", email)
        answer = api.login("acme", email=email)
        assert answer.json_body["status"] == "2fa_required", answer.body
        challenges.append(str(answer.json_body["challenge"]["id"]))
    return World(
        api=api,
        clock=clock,
        admin=admin,
        logout_token=logout_token,
        mo_id=mo_id,
        tia_id=tia_id,
        vic_id=vic_id,
        ivy_id=str(invited.json_body["id"]),
        cleo_id=cleo_id,
        group_id=group_id,
        default_group_id=default_group_id,
        device_id=str(devices[0]["id"]),
        phone=str(app_login.json_body["token"]),
        import_id=str(started.json_body["import_id"]),
        file_id=file_id,
        challenge_id=challenges[0],
        resend_challenge_id=challenges[1],
    )


@dataclass(frozen=True)
class Call:
    path: str
    body: dict[str, Any] | None  # a valid body; None: the route takes no body
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    passes: tuple[int, ...] = (200,)  # what the call answers without the unknown field


def last_mail_to(email: str) -> str:
    return str([m for m in sent_emails() if email in m["to"]][-1]["body"])


def six_digits(email: str) -> str:
    found = re.search(r"\b(\d{6})\b", last_mail_to(email))
    assert found
    return found.group(1)


def invitation_token(email: str) -> str:
    found = re.search(r"accept-invite\?token=(\S+)", last_mail_to(email))
    assert found
    return found.group(1)


def resend(w: World) -> Call:
    w.clock.advance(seconds=61)  # one email a minute per challenge, the login's included
    return Call("/auth/2fa/resend", {"challenge_id": w.resend_challenge_id})


def slack_call(w: World, method: str, body: dict[str, Any] | None, passes: int) -> Call:
    """A group of its own for each Slack integration route (POST: none yet; else one made)."""
    group_id = create_group(w.api, w.admin, f"Slack {method}")["id"]
    path = f"/groups/{group_id}/integrations/slack"
    if method != "POST":
        assert w.api.call("POST", path, {"display_name": "Slack"}, token=w.admin).status_code == 201
    return Call(path, body, token=w.admin, passes=(passes,))


def mailchimp_call(w: World, method: str, body: dict[str, Any] | None, passes: int) -> Call:
    """A group of its own for each MailChimp integration route (POST: none yet; else one made)."""
    group_id = create_group(w.api, w.admin, f"MailChimp {method}")["id"]
    path = f"/groups/{group_id}/integrations/mailchimp"
    if method != "POST":
        assert w.api.call("POST", path, token=w.admin).status_code == 201
    return Call(path, body, token=w.admin, passes=(passes,))


def report_call(w: World) -> Call:
    """A report of the admin's, awaiting its logs, to send without them."""
    body = {"description": "It froze", "platform": "web", "app_version": "1.0", "reporting_level": "none"}
    created = w.api.call("POST", "/support/reports", body, token=w.admin)
    assert created.status_code == 201, created.body
    return Call(f"/support/reports/{created.json_body['report_id']}/submit", None, token=w.admin)


def admin_call(path: str, body: dict[str, Any] | None, *passes: int) -> Callable[[World], Call]:
    return lambda w: Call(path.format(**vars(w)), body, token=w.admin, passes=passes or (200,))


# The walk runs in sorted (path, method) order, in one world: each CASE is built right before its
# calls, and each control call (without the unknown field) may change the world for later ones.
CASES: dict[tuple[str, str], Callable[[World], Call]] = {
    ("/admin/devices/{device_id}/disable", "POST"): admin_call("/admin/devices/{device_id}/disable", None),
    ("/admin/devices/{device_id}/enable", "POST"): admin_call("/admin/devices/{device_id}/enable", None),
    ("/admin/devices/{device_id}/wipe", "POST"): admin_call("/admin/devices/{device_id}/wipe", None),
    ("/admin/groups/{group_id}/default", "PUT"): admin_call(
        "/admin/groups/{default_group_id}/default", {"default": True}, 200, 202
    ),
    ("/admin/integrations/{service}", "PUT"): admin_call("/admin/integrations/slack", {"enabled": True}),
    ("/admin/imports", "POST"): admin_call(
        "/admin/imports", {"mode": "update", "send_invites": True, "dry_run": False, "size": 100}, 201
    ),
    # 409 import_not_completed: the file never landed; the body was taken
    ("/admin/imports/{import_id}/invite", "POST"): admin_call("/admin/imports/{import_id}/invite", None, 409),
    ("/admin/settings/security", "PUT"): admin_call(
        "/admin/settings/security", {"two_factor": "email", "validity_days": 0}
    ),
    ("/admin/users", "POST"): admin_call(
        "/admin/users",
        {
            "email": "new@acme.example",
            "first_name": "New",
            "last_name": "Person",
            "title": "Nurse",
            "phone": "+1 555 0100",
            "department": "Care",
            "role": "member",
            "auth_provider": "password",
            "send_invite": True,
        },
        201,
    ),
    ("/admin/users/bulk", "POST"): lambda w: Call(
        "/admin/users/bulk", {"action": "activate", "user_ids": [w.tia_id]}, token=w.admin, passes=(202,)
    ),
    ("/admin/users/{user_id}", "PATCH"): admin_call(
        "/admin/users/{tia_id}",
        {
            "first_name": "Tia",
            "last_name": "Target",
            "title": "Boss",
            "phone": "",
            "department": "Ops",
            "role": "member",
            "auth_provider": "password",
        },
    ),
    ("/admin/users/{user_id}", "DELETE"): admin_call("/admin/users/{vic_id}", None, 202),
    ("/admin/users/{user_id}/2fa/reset", "POST"): admin_call("/admin/users/{tia_id}/2fa/reset", None),
    ("/admin/users/{user_id}/activate", "POST"): admin_call("/admin/users/{tia_id}/activate", None),
    ("/admin/users/{user_id}/deactivate", "POST"): admin_call("/admin/users/{tia_id}/deactivate", None),
    ("/admin/users/{user_id}/invite", "POST"): admin_call("/admin/users/{ivy_id}/invite", None),
    ("/auth/2fa", "POST"): lambda w: Call(
        "/auth/2fa", {"challenge_id": w.challenge_id, "code": six_digits("dan@acme.example")}
    ),
    ("/auth/2fa/resend", "POST"): resend,
    ("/auth/accept-invite", "POST"): lambda w: Call(
        "/auth/accept-invite",
        {
            "token": invitation_token("ivy@acme.example"),
            "password": NEW_PASSWORD,
            "first_name": "Ivy",
            "last_name": "Accepted",
            "client": "web",
        },
    ),
    ("/auth/login", "POST"): lambda w: Call(
        "/auth/login",
        {
            "domain": "acme",
            "email": "mo@acme.example",
            "password": ADMIN_PASSWORD,
            "client": "ios",
            "device": {
                "device_id": "mo-phone",
                "type": "ios",
                "name": "Mo's phone",
                "os_version": "17.1",
                "app_version": "3.2.1",
            },
            "trusted_token": "not-a-trusted-token",
        },
    ),
    ("/auth/logout", "POST"): lambda w: Call("/auth/logout", None, token=w.logout_token),
    ("/chats/{user_id}/messages", "POST"): lambda w: Call(
        f"/chats/{w.mo_id}/messages", {"text": "hi Mo", "file_ids": [w.file_id]}, token=w.admin, passes=(201,)
    ),
    # pat's phone: wipe pending (the wipe above), so its token still reaches this call
    ("/devices/current/wiped", "POST"): lambda w: Call("/devices/current/wiped", None, token=w.phone),
    ("/files", "POST"): admin_call(
        "/files", {"filename": "notes.txt", "content_type": "text/plain", "size": 5}, 201
    ),
    ("/groups", "POST"): admin_call("/groups", {"name": "Project Y", "description": "Why not"}, 201),
    ("/groups/{group_id}/members", "POST"): admin_call(
        "/groups/{group_id}/members", {"user_id": "{cleo_id}", "role": "admin"}, 201
    ),
    ("/groups/{group_id}/members/{user_id}", "DELETE"): admin_call(
        "/groups/{group_id}/members/{mo_id}", None, 204
    ),
    ("/groups/{group_id}/integrations/slack", "DELETE"): lambda w: slack_call(w, "DELETE", None, 204),
    ("/groups/{group_id}/integrations/slack", "PATCH"): lambda w: slack_call(
        w,
        "PATCH",
        {"display_name": "Bridge", "channel_id": "C0123ABCD"},
        409,  # 409: not authorized yet
    ),
    ("/groups/{group_id}/integrations/slack", "POST"): lambda w: slack_call(
        w, "POST", {"display_name": "x"}, 201
    ),
    ("/groups/{group_id}/integrations/mailchimp", "DELETE"): lambda w: mailchimp_call(w, "DELETE", None, 200),
    ("/groups/{group_id}/integrations/mailchimp", "POST"): lambda w: mailchimp_call(w, "POST", None, 201),
    # 409 not_authorized: the body was read and taken; MailChimp was never authorized here
    ("/groups/{group_id}/integrations/mailchimp", "PUT"): lambda w: mailchimp_call(
        w, "PUT", {"list_ids": ["a1b2c3d4e5"], "events": ["subscribe"]}, 409
    ),
    ("/groups/{group_id}/messages", "POST"): admin_call(
        "/groups/{group_id}/messages", {"text": "hello all", "file_ids": ["{file_id}"]}, 201
    ),
    ("/support/reports", "POST"): admin_call(
        "/support/reports",
        {"description": "It froze", "platform": "web", "app_version": "1.0", "reporting_level": "all"},
        201,
    ),
    ("/support/reports/{report_id}/submit", "POST"): report_call,
    ("/platform/domains/{domain}/resume", "POST"): lambda w: Call(
        "/platform/domains/globex/resume", None, headers=PLATFORM
    ),
    ("/platform/domains/{domain}", "DELETE"): lambda w: Call(
        "/platform/domains/globex",
        None,
        headers=PLATFORM,
        passes=(409,),  # active: domain_active
    ),
    ("/platform/domains/{domain}", "PATCH"): lambda w: Call(
        "/platform/domains/globex", {"seats": 60, "plan": "enterprise"}, headers=PLATFORM
    ),
    ("/platform/domains/{domain}/suspend", "POST"): lambda w: Call(
        "/platform/domains/globex/suspend", None, headers=PLATFORM
    ),
    ("/platform/domains", "POST"): lambda w: Call(
        "/platform/domains",
        {
            "domain": "initech",
            "plan": "enterprise",
            "billing": "annual",
            "seats": 10,
            "hipaa": True,
            "admin": {
                "email": "admin@initech.example",
                "first_name": "Ina",
                "last_name": "Admin",
                "password": ADMIN_PASSWORD,
            },
        },
        headers=PLATFORM,
        passes=(201,),
    ),
}


def _fill(value: Any, w: World) -> Any:
    """`{name}` placeholders in a body's strings become the world's ids."""
    if isinstance(value, str):
        return value.format(**vars(w)) if "{" in value else value
    if isinstance(value, list):
        return [_fill(v, w) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, w) for k, v in value.items()}
    return value


def footprint() -> tuple[int, int, int]:
    """What a refused call must leave as it was: the table's items, the emails sent, S3's objects."""
    settings = get_settings()
    items = aws.dynamodb().scan(TableName=settings.table_name, Select="COUNT")["Count"]
    objects = aws.s3().list_objects_v2(Bucket=settings.bucket).get("KeyCount", 0)
    return items, len(sent_emails()), objects


def send(w: World, method: str, call: Call, body: dict[str, Any] | None) -> Any:
    return w.api.call(method, call.path, body, token=call.token, headers=call.headers)


def test_every_body_route_is_walked() -> None:
    assert set(CASES) | set(UNREACHABLE) | set(FOREIGN_BODIES) == BODY_ROUTES
    assert not set(CASES) & (set(UNREACHABLE) | set(FOREIGN_BODIES))
    assert all(reason.strip() for reason in [*UNREACHABLE.values(), *FOREIGN_BODIES.values()])


def test_every_body_route_refuses_a_field_it_does_not_take(api: Api, clock: FixedClock) -> None:
    w = build_world(api, clock)
    for path, method in sorted(CASES):
        call = CASES[path, method](w)
        valid = _fill(call.body, w) if call.body is not None else None
        before = footprint()
        refused = send(w, method, call, {**(valid or {}), UNKNOWN: True})
        where = f"{method} {path}"
        assert error_of(refused) == (400, "unknown_field"), (where, refused.body)
        message = refused.json_body["error"]["message"]
        assert message.startswith(f"{UNKNOWN}: is not a field this call takes ("), (where, message)
        if valid:  # the message lists what the call takes
            assert all(name in message for name in valid), (where, message)
        else:
            assert message.endswith("(it takes no body)"), (where, message)
        assert footprint() == before, where
        # without the unknown field the same body passes every body check
        accepted = send(w, method, call, valid if valid is not None else {})
        assert accepted.status_code in call.passes, (where, accepted.status_code, accepted.body)


def test_a_misspelt_send_invite_creates_no_user_and_sends_no_email(api: Api) -> None:
    admin = api.admin_token("acme")
    emails = len(sent_emails())
    body = {"email": "jo@acme.example", "first_name": "Jo", "last_name": "Doe", "sendinvite": True}
    refused = api.call("POST", "/admin/users", body, token=admin)
    assert error_of(refused) == (400, "unknown_field")
    assert refused.json_body["error"]["message"] == (
        "sendinvite: is not a field this call takes (it takes: email, first_name, last_name, title, "
        "phone, department, role, auth_provider, send_invite)"
    )
    assert api.call("GET", "/admin/users?q=jo", token=admin).json_body["items"] == []
    assert len(sent_emails()) == emails
    seats = api.call("GET", "/platform/domains/acme", headers=PLATFORM).json_body["seats"]
    assert seats["used"] == 1


def test_unknown_fields_of_nested_objects_are_named_dotted(api: Api) -> None:
    admin = {"emial": "a@initech.example", "first_name": "A", "last_name": "B", "password": ADMIN_PASSWORD}
    refused = api.provision("initech", admin=admin)
    assert error_of(refused) == (400, "unknown_field")
    assert refused.json_body["error"]["message"] == (
        "admin.emial: is not a field this call takes (admin takes: email, first_name, last_name, password)"
    )
    assert error_of(api.call("GET", "/platform/domains/initech", headers=PLATFORM)) == (
        404,
        "domain_not_found",
    )
    api.provision("acme")
    device = {"device_id": "x", "type": "ios", "serial": "123"}
    login = {"domain": "acme", "email": "admin@acme.example", "password": ADMIN_PASSWORD, "client": "ios"}
    refused = api.call("POST", "/auth/login", {**login, "device": device})
    assert error_of(refused) == (400, "unknown_field")
    assert refused.json_body["error"]["message"].startswith("device.serial: is not a field this call takes")


def test_several_unknown_fields_are_all_named_in_sorted_order(api: Api) -> None:
    admin = api.admin_token("acme")
    body = {"name": "G", "topic": "x", "colour": "red", "Name": "G"}
    refused = api.call("POST", "/groups", body, token=admin)
    assert error_of(refused) == (400, "unknown_field")
    assert refused.json_body["error"]["message"].startswith("Name, colour, topic: are not fields")


def test_a_call_that_takes_no_body_still_takes_nothing_or_an_empty_object(api: Api) -> None:
    admin = api.admin_token("acme")
    user = add_user("acme", "tia@acme.example")
    path = f"/admin/users/{user.id}/deactivate"
    bare = {"Authorization": f"Bearer {admin}"}  # no Content-Type at all
    assert api.client.http.request("POST", path, headers=bare, body=b"").status_code == 200
    assert api.call("POST", path, {}, token=admin).status_code == 200
    assert api.call("POST", path, "", token=admin).status_code == 200
    assert error_of(api.call("POST", path, {"reason": "left"}, token=admin)) == (400, "unknown_field")
    assert error_of(api.call("POST", path, "[]", token=admin)) == (400, "invalid_body")
    # GETs take no body either
    assert api.call("GET", "/me", {}, token=admin).status_code == 200
    assert error_of(api.call("GET", "/me", {"verbose": True}, token=admin)) == (400, "unknown_field")


def test_a_body_is_never_judged_before_the_caller_is_authenticated_and_allowed(api: Api) -> None:
    admin = api.admin_token("acme")
    _, member = sign_in(api, "acme", "mo@acme.example")
    user = add_user("acme", "tia@acme.example")
    junk = {UNKNOWN: 1}
    for method, path in (("POST", f"/admin/users/{user.id}/deactivate"), ("POST", "/admin/users")):
        assert error_of(api.call(method, path, junk)) == (401, "unauthenticated")
        assert error_of(api.call(method, path, junk, token=member)) == (403, "forbidden")
        assert error_of(api.call(method, path, junk, token=admin)) == (400, "unknown_field")
    assert error_of(api.call("POST", "/auth/logout", junk)) == (401, "unauthenticated")
    assert error_of(api.call("POST", "/platform/domains", junk)) == (401, "invalid_platform_key")
    assert error_of(api.call("POST", "/platform/domains", junk, headers={"X-Platform-Key": "x"})) == (
        401,
        "invalid_platform_key",
    )
    # A route that reads its body after its lookup answers 404 first for an unknown id...
    unknown = "01ABCDEFGHJKMNPQRSTVWXYZ01"
    assert error_of(api.call("PATCH", f"/admin/users/{unknown}", junk, token=admin)) == (
        404,
        "user_not_found",
    )
    # ...and a route that takes no body refuses a field before its lookup (docs/DECISIONS.md).
    assert error_of(api.call("POST", f"/admin/users/{unknown}/deactivate", junk, token=admin)) == (
        400,
        "unknown_field",
    )
    assert api.call("POST", f"/admin/users/{unknown}/deactivate", {}, token=admin).status_code == 404
