"""§7 CSV imports on moto: both ways in, the one S3-triggered path (S3 → SQS → on_s3_event →
jobs → on_job, every message delivered twice), rows, seats, dry runs, a crash between chunks,
the report, the emails and the invitations."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.config import get_settings, reset_settings
from chalicelib.domain.models import UserStatus
from chalicelib.repositories.domains import DomainRepository
from chalicelib.repositories.dynamo import Table
from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.factories import add_user, sent_emails, set_user_status

BUCKET = "office-chat-files"
HEADING = "Name,First Name,Last Name,Email,Title,Phone,Department,Enabled\n"
# The help article's two rows, verbatim (its email addresses were scrubbed: the 4th field is empty).
SEED_ROWS = (
    "“Will Smith”,”Will”,”Smith”,””,”Director”,”(+91)1234123411″,””, “TRUE”\n"
    "“JohnnyDepp”,”Johnny”,”Depp”,””,”Manager”,”(+91)1234123411″,””, “FALSE”\n"
)


@pytest.fixture
def admin(api: Api) -> str:
    aws.ses().verify_email_identity(EmailAddress="no-reply@office-chat.local")
    return api.admin_token("acme")


def deliver(client: Any, duplicate: bool = True) -> None:
    """Plays Lambda's SQS event sources until both queues are empty, each message twice."""
    for _ in range(2000):
        moved = False
        for queue, handler in (("office-chat-s3-events", "on_s3_event"), ("office-chat-jobs", "on_job")):
            url = aws.sqs().get_queue_url(QueueName=queue)["QueueUrl"]
            messages = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
            if not messages:
                continue
            moved = True
            event = client.events.generate_sqs_event(message_bodies=[messages[0]["Body"]], queue_name=queue)
            for _ in range(2 if duplicate else 1):
                client.lambda_.invoke(handler, event)
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        if not moved:
            return
    raise AssertionError("the queues never emptied")


def drop(name: str, body: str | bytes, domain: str = "acme", **metadata: str) -> None:
    data = body.encode() if isinstance(body, str) else body
    aws.s3().put_object(Bucket=BUCKET, Key=f"imports/{domain}/{name}", Body=data, Metadata=metadata)


def start(api: Api, token: str, **options: Any) -> dict[str, Any]:
    response = api.call("POST", "/admin/imports", options, token=token)
    assert response.status_code == 201, response.body
    return dict(response.json_body)


def upload(api: Api, client: Any, token: str, body: str, **options: Any) -> dict[str, Any]:
    started = start(api, token, **options)
    aws.s3().put_object(Bucket=BUCKET, Key=f"imports/acme/{started['import_id']}.csv", Body=body.encode())
    deliver(client)
    return the_import(api, token, started["import_id"])


def the_import(api: Api, token: str, import_id: str) -> dict[str, Any]:
    response = api.call("GET", f"/admin/imports/{import_id}", token=token)
    assert response.status_code == 200, response.body
    return dict(response.json_body)


def only_import(api: Api, token: str) -> dict[str, Any]:
    items = api.call("GET", "/admin/imports", token=token).json_body["items"]
    assert len(items) == 1, items
    return the_import(api, token, items[0]["id"])


def users_by_email(api: Api, token: str) -> dict[str, dict[str, Any]]:
    items = api.call("GET", "/admin/users?limit=200", token=token).json_body["items"]
    return {u["email"]: u for u in items}


def report_rows(details: dict[str, Any]) -> list[dict[str, str]]:
    key = f"import-reports/acme/{details['id']}/report.csv"
    body = aws.s3().get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert details["report_url"] and "report.csv" in details["report_url"]
    return list(csv.DictReader(io.StringIO(body)))


def test_an_upload_imports_users_and_emails_the_admin(api: Api, client: Any, admin: str) -> None:
    body = "Email,First Name,Last Name,Title\nann@acme.example,Ann,Archer,Nurse\nbo@acme.example,Bo,Brown,\n"
    details = upload(api, client, admin, body)
    assert details["status"] == "completed"
    assert details["counts"] == {
        "rows": 2,
        "created": 2,
        "updated": 0,
        "skipped": 0,
        "activated": 0,
        "deactivated": 0,
        "failed": 0,
    }
    users = users_by_email(api, admin)
    assert users["ann@acme.example"]["status"] == "invited" and users["ann@acme.example"]["title"] == "Nurse"
    mails = [m for m in sent_emails() if "admin@acme.example" in m["to"]]
    assert len(mails) == 1, mails  # every event and job message was delivered twice
    assert "2 created" in mails[0]["subject"] and f"/admin/imports/{details['id']}/invite" in mails[0]["body"]
    assert not [m for m in sent_emails() if "ann@acme.example" in m["to"]]  # no invitations asked
    assert [(r["line"], r["email"], r["outcome"]) for r in report_rows(details)] == [
        ("2", "ann@acme.example", "created"),
        ("3", "bo@acme.example", "created"),
    ]
    seats = api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY}).json_body[
        "seats"
    ]
    assert seats["used"] == 3
    defaults = api.call("GET", "/admin/groups?default=true", token=admin).json_body["items"]
    assert defaults  # the new users joined them (checked through a member's groups below)
    audit = [e["action"] for e in api.call("GET", "/admin/audit", token=admin).json_body["items"]]
    assert "import.completed" in audit


def test_the_seed_example_imports_once_emails_are_filled_in(api: Api, client: Any, admin: str) -> None:
    rows = SEED_ROWS.replace("”Smith”,””", "”Smith”,”will@acme.example”").replace(
        "”Depp”,””", "”Depp”,”johnny@acme.example”"
    )
    details = upload(api, client, admin, HEADING + rows)
    assert details["counts"]["created"] == 1 and details["counts"]["skipped"] == 1  # FALSE never creates
    will = users_by_email(api, admin)["will@acme.example"]
    assert (will["first_name"], will["last_name"], will["title"], will["phone"]) == (
        "Will",
        "Smith",
        "Director",
        "(+91)1234123411",
    )
    assert "johnny@acme.example" not in users_by_email(api, admin)


def test_the_seed_example_as_printed_reports_rows_without_an_email(api: Api, client: Any, admin: str) -> None:
    details = upload(api, client, admin, HEADING + SEED_ROWS)
    assert details["counts"]["failed"] == 2 and details["counts"]["rows"] == 2
    assert [(e["line"], e["code"]) for e in details["errors"]] == [(2, "missing_email"), (3, "missing_email")]


def test_an_operator_drop_with_metadata_updates_and_invites(api: Api, client: Any, admin: str) -> None:
    existing = add_user("acme", "mo@acme.example")
    body = "E-mail;Job Title;Role\nmo@acme.example;Chief;admin\nnew@acme.example;Intern;\n"
    drop("team.csv", body, **{"mode": "update", "send-invites": "true"})
    deliver(client)
    details = only_import(api, admin)
    assert (details["source"], details["mode"], details["send_invites"]) == ("drop", "update", True)
    assert details["counts"]["updated"] == 1 and details["counts"]["created"] == 1
    users = users_by_email(api, admin)
    assert users["mo@acme.example"]["title"] == "Chief" and users["mo@acme.example"]["role"] == "admin"
    assert users["mo@acme.example"]["id"] == existing.id
    invitations = [m for m in _templated() if "new@acme.example" in str(m)]
    assert len(invitations) == 1
    assert "accept-invite?token=acme." in str(invitations[0])
    assert details["invited"] is True
    assert error_of(api.call("POST", f"/admin/imports/{details['id']}/invite", token=admin)) == (
        409,
        "already_invited",
    )
    # the drop named no admin: every admin of the domain hears of it
    assert [m for m in sent_emails() if "admin@acme.example" in m["to"] and "team.csv" in m["subject"]]


def _templated() -> list[str]:
    """One entry per destination of every templated (bulk) email SES received."""
    from moto.ses.models import TemplateMessage, ses_backends

    backend = ses_backends["123456789012"]["us-east-1"]
    return [
        str(destination)
        for message in backend.sent_messages
        if isinstance(message, TemplateMessage)
        for destination in message.destinations
    ]


@pytest.mark.parametrize(
    ("state", "enabled", "mode", "outcome", "after"),
    [
        (None, "TRUE", "skip", "created", "invited"),
        (None, "", "skip", "created", "invited"),
        (None, "FALSE", "skip", "skipped", None),
        ("active", "TRUE", "skip", "skipped", "active"),
        ("active", "FALSE", "skip", "deactivated", "deactivated"),
        ("active", "", "skip", "skipped", "active"),
        ("active", "", "update", "updated", "active"),
        ("deactivated", "TRUE", "skip", "activated", "active"),
        ("deactivated", "TRUE", "update", "activated", "active"),
        ("deactivated", "FALSE", "update", "updated", "deactivated"),
        ("deactivated", "", "skip", "skipped", "deactivated"),
        ("invited", "FALSE", "skip", "deactivated", "deactivated"),
        ("invited", "TRUE", "skip", "skipped", "invited"),
    ],
)
def test_enabled_by_state_by_mode(
    api: Api,
    client: Any,
    admin: str,
    state: str | None,
    enabled: str,
    mode: str,
    outcome: str,
    after: str | None,
) -> None:
    if state is not None:
        user = add_user("acme", "pat@acme.example")
        if state != "active":
            set_user_status(user, UserStatus(state))
            if state == "deactivated":
                _free_seat()
    details = upload(api, client, admin, f"Email,Title,Enabled\npat@acme.example,Boss,{enabled}\n", mode=mode)
    assert details["counts"][outcome] == 1, details
    found = users_by_email(api, admin).get("pat@acme.example")
    assert (found["status"] if found else None) == after
    if found:  # a new user gets the row's fields; an existing one only in update mode
        assert found["title"] == ("" if state is not None and mode == "skip" else "Boss")


def _free_seat() -> None:
    Table().update("D#acme", "META", "SET seats_used = seats_used - :one", {":one": 1})


def test_bad_rows_are_reported_and_the_rest_imports(api: Api, client: Any, admin: str) -> None:
    body = (
        "Email,Enabled,Role,Shoe Size\n"
        "good@acme.example,TRUE,,\n"
        "not-an-email,TRUE,,\n"
        "good@acme.example,TRUE,,\n"
        "bad.flag@acme.example,maybe,,\n"
        "bad.role@acme.example,,boss,\n"
        "short@acme.example\n"
    )
    details = upload(api, client, admin, body)
    codes = [(e["line"], e["code"]) for e in details["errors"]]
    assert codes == [
        (1, "unknown_heading"),
        (3, "invalid_email"),
        (4, "duplicate_email"),
        (5, "invalid_enabled"),
        (6, "invalid_role"),
        (7, "wrong_field_count"),
    ]
    assert details["counts"]["created"] == 1 and details["counts"]["failed"] == 5


def test_seats_are_enforced_row_by_row(api: Api, client: Any, admin: str) -> None:
    DomainRepository(Table())  # the domain has 50 seats; leave 2 free
    Table().update("D#acme", "META", "SET seats_total = :total", {":total": 3})
    body = "Email\n" + "".join(f"u{i}@acme.example\n" for i in range(4))
    details = upload(api, client, admin, body)
    assert details["counts"]["created"] == 2 and details["counts"]["failed"] == 2
    assert [e["code"] for e in details["errors"]] == ["seat_limit_reached", "seat_limit_reached"]


def test_a_dry_run_changes_nothing_and_tells_only_the_admin(api: Api, client: Any, admin: str) -> None:
    body = "Email\nann@acme.example\nann@acme.example\n"
    details = upload(api, client, admin, body, dry_run=True, send_invites=True)
    assert details["dry_run"] is True and details["status"] == "completed"
    assert details["counts"]["created"] == 1 and details["counts"]["failed"] == 1
    assert "ann@acme.example" not in users_by_email(api, admin)
    mails = [m for m in sent_emails() if "admin@acme.example" in m["to"]]
    assert len(mails) == 1 and "Dry run" in mails[0]["subject"]
    assert not [m for m in _templated() if "ann@acme.example" in str(m)]
    assert error_of(api.call("POST", f"/admin/imports/{details['id']}/invite", token=admin)) == (
        409,
        "dry_run",
    )


def test_invitations_later_once(api: Api, client: Any, admin: str) -> None:
    details = upload(api, client, admin, "Email\nann@acme.example\n")
    answer = api.call("POST", f"/admin/imports/{details['id']}/invite", token=admin)
    assert answer.status_code == 202, answer.body
    deliver(client)
    assert len([m for m in _templated() if "ann@acme.example" in str(m)]) == 1
    again = api.call("POST", f"/admin/imports/{details['id']}/invite", token=admin)
    assert error_of(again) == (409, "already_invited")


@pytest.mark.parametrize(
    "where",
    [
        "_save_chunk",  # between chunks: the second chunk's checkpoint is saved
        "_write_outputs",  # mid-chunk: users written, checkpoint not moved
    ],
)
def test_a_crash_between_chunks_resumes_without_doubles(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from chalicelib.bootstrap import services
    from chalicelib.services.imports import ImportRun

    monkeypatch.setenv("OC_IMPORT_CHUNK_ROWS", "3")
    reset_settings()
    real = getattr(ImportRun, where)
    calls = {"n": 0}

    def dies_in_the_second_chunk(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2 and where == "_write_outputs":
            raise RuntimeError("Lambda killed mid-chunk")
        moved = real(self, *args)
        if calls["n"] == 2:
            raise RuntimeError("Lambda killed between chunks")
        return moved

    monkeypatch.setattr(ImportRun, where, dies_in_the_second_chunk)
    body = "Email\n" + "".join(f"u{i}@acme.example\n" for i in range(9)) + "u0@acme.example\n"
    started = start(api, admin)
    aws.s3().put_object(Bucket=BUCKET, Key=f"imports/acme/{started['import_id']}.csv", Body=body.encode())
    with pytest.raises(RuntimeError):
        deliver(client, duplicate=False)
    assert services()  # the same services go on, as a new Lambda would after the redelivery
    deliver(client)  # SQS delivers the job message again after its visibility timeout
    _redeliver_jobs(client, started["import_id"])
    details = the_import(api, admin, started["import_id"])
    assert details["status"] == "completed", details
    assert details["counts"]["created"] == 9 and details["counts"]["rows"] == 10
    assert [(e["line"], e["code"]) for e in details["errors"]] == [(11, "duplicate_email")]
    emails = [u for u in users_by_email(api, admin) if u.startswith("u")]
    assert len(emails) == 9
    domain = api.call("GET", "/platform/domains/acme", headers={"X-Platform-Key": PLATFORM_KEY}).json_body
    assert domain["seats"]["used"] == 10
    assert [r["outcome"] for r in report_rows(details)] == ["created"] * 9 + ["failed"]


@pytest.mark.parametrize(
    "where",
    [
        "send",  # the chunk's users and EMAIL items landed, its emails did not go
        "_write_outputs",  # the emails went, the checkpoint did not move
    ],
)
def test_a_crash_mid_chunk_leaves_every_new_user_a_working_invitation(
    api: Api, client: Any, admin: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Invitations go out chunk by chunk: a chunk read again after a crash invites its new users
    again (new links, the old die), so each has exactly one working link, and nobody is doubled."""
    from chalicelib.services.import_invitations import ImportInvitations
    from chalicelib.services.imports import ImportRun

    monkeypatch.setenv("OC_IMPORT_CHUNK_ROWS", "3")
    reset_settings()
    aws.ses().verify_email_identity(EmailAddress=get_settings().email_sender)
    owner: Any = ImportInvitations if where == "send" else ImportRun
    real = getattr(owner, where)
    calls = {"n": 0}

    def dies_in_the_second_chunk(self: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("Lambda killed mid-chunk")
        return real(self, *args)

    monkeypatch.setattr(owner, where, dies_in_the_second_chunk)
    body = "Email,First Name\n" + "".join(f"u{i}@acme.example,U{i}\n" for i in range(7))
    started = start(api, admin, send_invites=True)
    aws.s3().put_object(Bucket=BUCKET, Key=f"imports/acme/{started['import_id']}.csv", Body=body.encode())
    with pytest.raises(RuntimeError):
        deliver(client, duplicate=False)
    deliver(client)
    _redeliver_jobs(client, started["import_id"])
    details = the_import(api, admin, started["import_id"])
    assert details["status"] == "completed" and details["counts"]["created"] == 7, details
    links = _invitation_links()
    emailed = {email: len(tokens) for email, tokens in links.items()}
    twice = 2 if where == "_write_outputs" else 1  # the second chunk's emails went twice
    assert emailed == {f"u{i}@acme.example": twice if 3 <= i < 6 else 1 for i in range(7)}
    for email, tokens in links.items():
        *dead, last = tokens
        for token in dead:
            assert error_of(_accept(api, token))[0] in (400, 401, 404, 410), email
        assert _accept(api, last).status_code == 200, email
    assert len([u for u in users_by_email(api, admin) if u.startswith("u")]) == 7


def _invitation_links() -> dict[str, list[str]]:
    """Each invited address's tokens, in the order their emails were sent."""
    import json

    from moto.ses.models import TemplateMessage, ses_backends

    links: dict[str, list[str]] = {}
    for message in ses_backends["123456789012"]["us-east-1"].sent_messages:
        if not isinstance(message, TemplateMessage):
            continue
        for destination in message.destinations:
            to = destination["Destination"]["ToAddresses"][0]
            data = json.loads(destination["ReplacementTemplateData"])
            links.setdefault(to, []).append(data["link"].split("token=", 1)[1])
    return links


def _accept(api: Api, token: str) -> Any:
    return api.call("POST", "/auth/accept-invite", {"token": token, "password": "a long new password"})


def _redeliver_jobs(client: Any, import_id: str) -> None:
    """The message whose delivery crashed comes back: hand its job step to the handler again."""
    import json

    from chalicelib.bootstrap import services

    record = services().imports._imports.get("acme", import_id)
    assert record is not None and record.job_id
    job = services().jobs.find("acme", record.job_id)
    assert job is not None
    message = {"kind": job.kind, "domain": "acme", "job_id": job.id, "checkpoint": job.checkpoint}
    event = client.events.generate_sqs_event(
        message_bodies=[json.dumps(message)], queue_name="office-chat-jobs"
    )
    client.lambda_.invoke("on_job", event)
    deliver(client)


def test_drops_for_unknown_or_suspended_domains_fail_cleanly(api: Api, client: Any, admin: str) -> None:
    from chalicelib.domain.models import DomainStatus
    from tests.integration.factories import set_domain_status

    api.provision("globex")
    set_domain_status("globex", DomainStatus.SUSPENDED)
    drop("a.csv", "Email\nx@globex.example\n", domain="globex")
    drop("a.csv", "Email\nx@nowhere.example\n", domain="nowhere")
    drop("../a.csv", "Email\n", domain="acme/x")
    deliver(client)
    record = Table().query("D#globex#IMPORTS", limit=5).items
    assert [(r["status"], r["error"]["code"]) for r in record] == [("failed", "domain_suspended")]
    # nothing is written under a name no domain holds: a domain provisioned later starts empty
    assert Table().query("D#nowhere#IMPORTS", limit=5).items == []
    assert Table().query("D#nowhere#PARTS", limit=5).items == []


def test_a_file_without_an_email_column_fails_with_a_clear_error(api: Api, client: Any, admin: str) -> None:
    details = upload(api, client, admin, "Name,Title\nAnn,Nurse\n")
    assert details["status"] == "failed"
    assert details["error"]["code"] == "missing_email_heading"
    mails = [m for m in sent_emails() if "admin@acme.example" in m["to"]]
    assert len(mails) == 1 and "failed" in mails[0]["subject"]


def test_the_api_checks_its_input(api: Api, admin: str) -> None:
    assert error_of(api.call("POST", "/admin/imports", {"mode": "merge"}, token=admin))[0] == 400
    assert error_of(api.call("POST", "/admin/imports", {"send_invites": "yes"}, token=admin))[0] == 400
    too_big = api.call("POST", "/admin/imports", {"size": 300 * 1024 * 1024}, token=admin)
    assert error_of(too_big)[0] == 413
    assert error_of(api.call("GET", "/admin/imports/01ABCDEFGHJKMNPQRSTVWXYZ0", token=admin)) == (
        404,
        "import_not_found",
    )
    assert error_of(api.call("GET", "/admin/imports/nope", token=admin)) == (404, "import_not_found")
    assert error_of(api.call("GET", "/admin/imports")) == (401, "unauthenticated")
    started = start(api, admin, mode="update", send_invites=True)
    assert started["upload_url"].startswith("https://") or started["upload_url"].startswith("http")
    pending = the_import(api, admin, started["import_id"])
    assert (pending["status"], pending["mode"], pending["send_invites"]) == ("pending", "update", True)
    assert error_of(api.call("POST", f"/admin/imports/{started['import_id']}/invite", token=admin)) == (
        409,
        "import_not_completed",
    )


@pytest.mark.parametrize("part_bytes", [30, 3 * 1024 * 1024])
def test_report_parts_join_into_one_csv(aws_env: None, part_bytes: int) -> None:
    """A small report is one PutObject; a large one (3 parts of 3 MiB) a multipart upload whose
    parts are at least 5 MiB, as S3 (and moto) require."""
    from chalicelib.repositories.imports import ImportFiles

    files = ImportFiles()
    rows = [f"{chunk},a{chunk}@x.example,created,,".ljust(part_bytes - 2, " ") + "\r\n" for chunk in range(3)]
    for chunk, row in enumerate(rows):
        files.put_part("acme", "i1", chunk, row.encode())
    key = files.join_parts("acme", "i1", 3, b"line,email\r\n")
    files.delete_parts("acme", "i1", 3)
    body = aws.s3().get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert body == "line,email\r\n" + "".join(rows)
    listed = aws.s3().list_objects_v2(Bucket=BUCKET, Prefix="import-reports/acme/i1/").get("Contents", [])
    assert [o["Key"] for o in listed] == [key]  # the parts are gone


def test_every_heading_error_is_kept(api: Api, client: Any, admin: str) -> None:
    details = upload(
        api, client, admin, "Email,Shoe Size,Hat Size,E-mail\na@acme.example,1,2,b@acme.example\n"
    )
    assert [(e["line"], e["code"]) for e in details["errors"]] == [
        (1, "unknown_heading"),
        (1, "unknown_heading"),
        (1, "duplicate_heading"),
    ]
    assert details["counts"]["created"] == 1


def test_a_bad_row_claims_its_email_once(api: Api, client: Any, admin: str) -> None:
    body = (
        "Email,Enabled\n"
        "a@acme.example,maybe\na@acme.example,perhaps\na@acme.example,TRUE\nb@acme.example,TRUE\n"
    )
    details = upload(api, client, admin, body)
    assert [(e["line"], e["code"]) for e in details["errors"]] == [
        (2, "invalid_enabled"),
        (3, "invalid_enabled"),
        (4, "duplicate_email"),
    ]
    assert details["counts"]["created"] == 1 and details["counts"]["failed"] == 3
    marker = Table().get("D#acme#E#a@acme.example", f"IMPORT#{details['id']}")
    assert marker is not None and marker["line"] == 2
