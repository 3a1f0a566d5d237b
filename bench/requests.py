"""AWS calls per request and request time, against baselines measured in this run.

Run: `make bench` (or `.venv/bin/python bench/requests.py`). Needs no emulator: moto runs in-process.
AWS calls are counted with botocore's `before-call` event on every client the app creates. Times are
printed as ratios against a baseline of the same run (a GET /health); the absolute times are this
machine's and moto's, not Lambda's. Exit status 1 when a call-count target is missed. Cold starts (a
fresh `import app` and first requests, and whether it loads boto3) are bench/cold_start.py's.
The Slack rows measure Slack → group (an outgoing webhook, a signed Events API message, for a group
connected through an in-process fake Slack) and a person's group post with and without a Slack integration.
The MailChimp rows measure MailChimp → group: a webhook's event, and the same event delivered again (MailChimp
retries), for a group following one audience through an in-process fake MailChimp.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_KEY = "bench-platform-key"
DOMAIN = "bench"
EMAIL = "admin@bench.local"
PASSWORD = "a long bench password"  # noqa: S105 - the bench domain's admin, in moto only
REQUEST_RUNS = 30
# A login reads (domain, credentials, failures), counts the attempt before the password is
# checked (the lockout's atomic write: concurrent guesses never pass the 10th), reads the user and
# writes the session: 4. A device new to the user adds the notice email (API.md §2).
LOGIN_TARGET = 4
NEW_DEVICE_LOGIN_TARGET = LOGIN_TARGET + 1
GET_TARGET = 2
# Slack → group, either way in: the lookup item's read (the webhook's secret, or the team and channel)
# and the transaction that writes the message with its Slack marker: 2, within 3.
SLACK_INBOUND_TARGET = 3
# A person's post in a group without an integration: the token's read (authentication), one read of
# the poster's membership together with the group's Slack integration (a BatchGetItem: the membership
# read a post made before issue 15, so no integration costs no call more) and the transaction that
# writes the message: exactly 3. A connected group adds only the relay job's sqs.SendMessage.
GROUP_POST_TARGET = 3
SLACK_CLIENT_ID = "1111.2222"
SLACK_CLIENT_SECRET = "bench-slack-client-secret"  # noqa: S105 - the fake Slack's, in-process only
SLACK_SIGNING_SECRET = "bench-slack-signing-secret-0123456789"  # noqa: S105 - signs the bench's events
SLACK_SSM_SETTINGS = ("SLACK_CLIENT_SECRET_SSM_PARAM", "SLACK_SIGNING_SECRET_SSM_PARAM")
# A Slack outgoing webhook's form, as Slack posts it; the bench gives each one a new timestamp.
OUTGOING_WEBHOOK = (
    "token=X&team_id=T0001&team_domain=example&channel_id=C2147483705&channel_name=test"
    "&timestamp={ts}&user_id=U2147483697&user_name=Steve&text={text}&trigger_word="
)
# MailChimp → group, a new event or a repeated one: the lookup item's read (the webhook's secret) and the
# transaction that writes the message with its event's marker (a repeat: the marker's condition fails): 2,
# within 3.
MAILCHIMP_INBOUND_TARGET = 3
MAILCHIMP_CLIENT_ID = "123456789012"
MAILCHIMP_CLIENT_SECRET = "bench-mailchimp-client-secret"  # noqa: S105 - the fake MailChimp's, in-process only
MAILCHIMP_SSM_SETTINGS = ("MAILCHIMP_CLIENT_SECRET_SSM_PARAM",)
MAILCHIMP_LIST_ID = "a1b2c3d4e5"  # the fake's Newsletter audience
# A subscribe event's form, as MailChimp posts it (tests/fixtures/mailchimp/subscribe.txt's fields).
MAILCHIMP_SUBSCRIBE = (
    "type=subscribe&fired_at=2009-03-26+21%3A35%3A57&data%5Bid%5D=8a25ff1d98"
    "&data%5Blist_id%5D={list_id}&data%5Bemail%5D=api%40mailchimp.com&data%5Bemail_type%5D=html"
    "&data%5Bmerges%5D%5BEMAIL%5D=api%40mailchimp.com&data%5Bmerges%5D%5BFNAME%5D=Mailchimp"
    "&data%5Bmerges%5D%5BLNAME%5D=API&data%5Bmerges%5D%5BINTERESTS%5D=&data%5Bip_opt%5D=10.20.10.30"
    "&data%5Bip_signup%5D=10.20.10.30"
)


@dataclass(frozen=True)
class Exactly:
    """A target met only by this many calls: neither more nor fewer."""

    calls: int


Target = int | Exactly | None
Row = tuple[str, list[str], Target]


def _isolate_path() -> None:
    """`python bench/requests.py` puts bench/ first on sys.path, where this file would shadow the
    `requests` package that moto imports: take bench/ off and put the project root first."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))


class CallLog:
    """Every AWS API call made by a hooked client, as `service.Operation` (retries not counted)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def record(self, model: Any, **_: Any) -> None:
        self.calls.append(f"{model.service_model.service_name}.{model.name}")

    def hook(self, client: Any) -> Any:
        client.meta.events.register("before-call", self.record, unique_id="bench-call-log")
        return client


class Bench:
    def __init__(self, http: Any, log: CallLog) -> None:
        self.http = http
        self.log = log

    def send(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        from bench.harness import send as send_json

        return send_json(self.http, PLATFORM_KEY, method, path, token, body)

    def expect(self, status: int, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        got, answer = self.send(method, path, token, body)
        if got != status:
            raise SystemExit(f"bench: {method} {path} answered {got}, expected {status}: {answer}")
        return answer

    def counted(
        self, status: int, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[list[str], Any]:
        self.log.calls.clear()
        answer = self.expect(status, method, path, token, body)
        return list(self.log.calls), answer

    def counted_raw(self, status: int, path: str, headers: dict[str, str], body: bytes) -> list[str]:
        """AWS calls of a POST as an outside service sends it: its own headers and raw body."""
        self.log.calls.clear()
        response = self.http.post(path, headers=headers, body=body)
        calls = list(self.log.calls)
        if response.status_code != status:
            raise SystemExit(f"bench: POST {path} answered {response.status_code}, expected {status}")
        return calls


def _login(password: str = PASSWORD) -> dict[str, str]:
    return {"domain": DOMAIN, "email": EMAIL, "password": password, "client": "web"}


def _count_rows(bench: Bench) -> tuple[list[Row], str]:
    """AWS calls of each measured request; returns the rows and a token for the timing loop."""
    warm_token = bench.expect(200, "POST", "/auth/login", body=_login())["token"]
    rows: list[Row] = []
    calls, answer = bench.counted(200, "POST", "/auth/login", body=_login())
    token = answer["token"]
    rows.append(("POST /auth/login (ok)", calls, LOGIN_TARGET))
    calls, _ = bench.counted(401, "POST", "/auth/login", body=_login("wrong password!"))
    rows.append(("POST /auth/login (wrong password)", calls, LOGIN_TARGET))
    calls, _ = bench.counted(200, "POST", "/auth/login", body=_login())
    rows.append(("POST /auth/login (ok, clears failures)", calls, LOGIN_TARGET))
    unbound_me: list[str] = []
    for path in ("/me", "/admin/audit"):
        calls, _ = bench.counted(200, "GET", path, token)
        rows.append((f"GET {path}", calls, GET_TARGET))
        unbound_me = unbound_me or calls
    device = {
        "device_id": "bench-phone",
        "type": "android",
        "name": "Bench",
        "os_version": "15",
        "app_version": "1.0",
    }
    app_login = {**_login(), "client": "android", "device": device}
    calls, answer = bench.counted(200, "POST", "/auth/login", body=app_login)
    rows.append(("POST /auth/login (android, new device)", calls, NEW_DEVICE_LOGIN_TARGET))
    calls, _ = bench.counted(200, "GET", "/me", answer["token"])
    # a device-bound request: no more calls than the same request unbound
    rows.append(("GET /me (device-bound token)", calls, len(unbound_me)))
    calls, _ = bench.counted(200, "POST", "/auth/logout", warm_token)
    rows.append(("POST /auth/logout", calls, None))
    calls, _ = bench.counted(200, "GET", "/health")
    rows.append(("GET /health", calls, 0))
    return rows, token


class SlackMessages:
    """New Slack messages: each with a timestamp (ts) of its own, so none is a replay."""

    def __init__(self) -> None:
        self.seconds = int(time.time())
        self.count = 0
        self.texts: list[str] = []

    def next(self) -> tuple[str, str]:
        self.count += 1
        text = f"bench {self.count}"
        self.texts.append(text)
        return f"{self.seconds}.{self.count:06d}", text


def _follow_redirect(bench: Bench, authorize_url: str, service: str) -> None:
    """The admin's browser: a fake's authorize page redirects at once (302), then our OAuth callback
    answers its page (200)."""
    authorize = urlsplit(authorize_url)
    connection = http.client.HTTPConnection(authorize.netloc, timeout=5)
    try:
        connection.request("GET", f"{authorize.path}?{authorize.query}")
        answer = connection.getresponse()
        answer.read()
        location = urlsplit(answer.getheader("Location") or "")
    finally:
        connection.close()
    if answer.status != 302:
        raise SystemExit(f"bench: the fake {service}'s authorize page answered {answer.status}, expected 302")
    page = bench.http.get(f"{location.path}?{location.query}")
    if page.status_code != 200:
        raise SystemExit(f"bench: the {service} OAuth callback answered {page.status_code}: {page.body!r}")


def _connect_slack(bench: Bench, fake: Any, token: str) -> tuple[str, str]:
    """A new group with an active Slack integration on the fake's channel: (group id, webhook path)."""
    group_id = bench.expect(201, "POST", "/groups", token, {"name": "Bench Slack"})["id"]
    slack_path = f"/groups/{group_id}/integrations/slack"
    integration = bench.expect(201, "POST", slack_path, token, {"display_name": "Slack"})
    _follow_redirect(bench, integration["authorize_url"], "Slack")
    connected = bench.expect(200, "GET", slack_path, token)
    if (connected["status"], connected["channel_id"]) != ("active", fake.channel_id):
        raise SystemExit(f"bench: the Slack integration is not connected: {connected}")
    return group_id, str(urlsplit(integration["webhook_url"]).path)


def _signed_event(fake: Any, ts: str, text: str) -> tuple[dict[str, str], bytes]:
    """An Events API message event of the fake's team and channel, signed as Slack signs it."""
    envelope = {
        "token": "X",
        "team_id": fake.team_id,
        "api_app_id": "A0BENCH001",
        "event": {
            "type": "message",
            "channel": fake.channel_id,
            "user": "U2147483697",
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "channel",
        },
        "type": "event_callback",
        "event_id": f"Ev{ts.replace('.', '')}",
        "event_time": int(float(ts)),
    }
    body = json.dumps(envelope).encode()
    stamp = str(int(time.time()))  # the bench's services run on the system clock
    digest = hmac.new(SLACK_SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }
    return headers, body


def _slack_rows(bench: Bench, fake: Any, token: str) -> list[Row]:
    """Slack → group both ways in, and a person's post in a group without and with Slack."""
    rows: list[Row] = []
    group_id, webhook = _connect_slack(bench, fake, token)
    messages = SlackMessages()
    ts, text = messages.next()
    form = OUTGOING_WEBHOOK.format(ts=ts, text=text.replace(" ", "+")).encode()
    calls = bench.counted_raw(200, webhook, {"Content-Type": "application/x-www-form-urlencoded"}, form)
    rows.append(("POST /hooks/slack/{secret} (outgoing webhook)", calls, SLACK_INBOUND_TARGET))
    headers, body = _signed_event(fake, *messages.next())
    calls = bench.counted_raw(200, "/hooks/slack/events", headers, body)
    rows.append(("POST /hooks/slack/events (message event)", calls, SLACK_INBOUND_TARGET))
    posted = {m["text"] for m in bench.expect(200, "GET", f"/groups/{group_id}/messages", token)["items"]}
    if missing := set(messages.texts) - posted:  # a dropped message would be counted as cheap
        raise SystemExit(f"bench: Slack messages not in the group: {sorted(missing)}")

    plain_id = bench.expect(201, "POST", "/groups", token, {"name": "Bench plain"})["id"]
    plain, _ = bench.counted(201, "POST", f"/groups/{plain_id}/messages", token, {"text": "no integration"})
    rows.append(("POST /groups/{id}/messages (no integration)", plain, Exactly(GROUP_POST_TARGET)))
    # warm, as the logins are: a container's first job also looks the queue's URL up (sqs.GetQueueUrl, once)
    bench.expect(201, "POST", f"/groups/{group_id}/messages", token, {"text": "warms the job queue"})
    calls, _ = bench.counted(201, "POST", f"/groups/{group_id}/messages", token, {"text": "to Slack"})
    rows.append(("POST /groups/{id}/messages (with Slack)", calls, len(plain) + 1))
    return rows


def _connect_mailchimp(bench: Bench, fake: Any, token: str) -> tuple[str, str]:
    """A new group whose MailChimp integration follows the fake's Newsletter: (group id, receiver path)."""
    group_id = bench.expect(201, "POST", "/groups", token, {"name": "Bench MailChimp"})["id"]
    mailchimp_path = f"/groups/{group_id}/integrations/mailchimp"
    integration = bench.expect(201, "POST", mailchimp_path, token)
    _follow_redirect(bench, integration["authorize_url"], "MailChimp")
    chosen = bench.expect(200, "PUT", mailchimp_path, token, {"list_ids": [MAILCHIMP_LIST_ID]})
    outcomes = [(r["list_id"], r["outcome"]) for r in chosen["results"]]
    if chosen["status"] != "active" or outcomes != [(MAILCHIMP_LIST_ID, "created")]:
        raise SystemExit(f"bench: the MailChimp integration follows no audience: {chosen}")
    hooks = fake.webhooks
    if [hook["list_id"] for hook in hooks] != [MAILCHIMP_LIST_ID]:
        raise SystemExit(f"bench: the fake MailChimp has other webhooks than ours: {hooks}")
    return group_id, str(urlsplit(hooks[0]["url"]).path)


def _mailchimp_rows(bench: Bench, fake: Any, token: str) -> list[Row]:
    """MailChimp → group: an event, then the same event again (posted once)."""
    group_id, receiver = _connect_mailchimp(bench, fake, token)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    body = MAILCHIMP_SUBSCRIBE.format(list_id=MAILCHIMP_LIST_ID).encode()
    rows: list[Row] = []
    calls = bench.counted_raw(200, receiver, headers, body)
    rows.append(("POST /hooks/mailchimp/{secret} (event)", calls, MAILCHIMP_INBOUND_TARGET))
    calls = bench.counted_raw(200, receiver, headers, body)
    rows.append(("POST /hooks/mailchimp/{secret} (repeated event)", calls, MAILCHIMP_INBOUND_TARGET))
    posted = [m["text"] for m in bench.expect(200, "GET", f"/groups/{group_id}/messages", token)["items"]]
    if posted != ["Mailchimp API <api@mailchimp.com> subscribed to Newsletter"]:
        raise SystemExit(f"bench: the group should hold the event once, it holds {posted}")
    return rows


def _use_fake_mailchimp(fake: Any) -> None:
    """Our MailChimp app's settings, pointing at the fake: before the settings are read."""
    os.environ.update(
        MAILCHIMP_CLIENT_ID=MAILCHIMP_CLIENT_ID,
        MAILCHIMP_CLIENT_SECRET=MAILCHIMP_CLIENT_SECRET,
        MAILCHIMP_LOGIN_URL=fake.login_url,
    )


def _use_fake_slack(fake: Any) -> None:
    """Our Slack app's settings, pointing at the fake: before the settings are read."""
    os.environ.update(
        SLACK_CLIENT_ID=SLACK_CLIENT_ID,
        SLACK_CLIENT_SECRET=SLACK_CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        SLACK_AUTHORIZE_URL=fake.authorize_url,
    )


def measure_requests() -> tuple[list[Row], float, float]:
    """Calls per request (label, operations, target) and median seconds of GET /health and GET /me."""
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.bootstrap import reset_services
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings, reset_settings
    from infra.emulator import provision_emulator
    from localdev.fake_mailchimp import FakeMailchimp
    from localdev.fake_slack import FakeSlack

    log = CallLog()
    original_create = aws._create
    aws._create = lambda service: log.hook(original_create(service))  # clients created later are hooked too
    try:
        # the fakes' HTTP calls go through urllib, not botocore: never counted
        with (
            FakeSlack(client_id=SLACK_CLIENT_ID, client_secret=SLACK_CLIENT_SECRET) as fake,
            FakeMailchimp(client_id=MAILCHIMP_CLIENT_ID, client_secret=MAILCHIMP_CLIENT_SECRET) as chimp,
            mock_aws(),
        ):
            _use_fake_slack(fake)
            _use_fake_mailchimp(chimp)
            reset_settings()
            aws.reset_clients()
            reset_services()
            provision_emulator(aws.client, get_settings().region)
            aws.ses().verify_email_identity(EmailAddress=get_settings().email_sender)  # as make run does
            from app import app

            logging.getLogger().setLevel(logging.WARNING)  # the app's INFO lines would mix into the table

            with Client(app) as client:
                bench = Bench(client.http, log)
                admin = {"email": EMAIL, "first_name": "B", "last_name": "A", "password": PASSWORD}
                domain = {"domain": DOMAIN, "plan": "business", "billing": "monthly", "hipaa": False}
                bench.expect(201, "POST", "/platform/domains", body={**domain, "admin": admin})
                rows, token = _count_rows(bench)
                rows += _slack_rows(bench, fake, token)
                rows += _mailchimp_rows(bench, chimp, token)

                health: list[float] = []
                me: list[float] = []
                for _ in range(REQUEST_RUNS):
                    for samples, path in ((health, "/health"), (me, "/me")):
                        started = time.perf_counter()
                        bench.expect(200, "GET", path, token)
                        samples.append(time.perf_counter() - started)
    finally:
        aws._create = original_create
        aws.reset_clients()
    return rows, statistics.median(health), statistics.median(me)


def _judge(count: int, target: Target) -> tuple[str, str]:
    """The target as shown and the verdict: OK, OVER (more calls than the target), UNDER (fewer
    than an exact one), or - (no target)."""
    if target is None:
        return "-", "-"
    if isinstance(target, Exactly):
        verdict = "OK" if count == target.calls else ("OVER" if count > target.calls else "UNDER")
        return f"= {target.calls}", verdict
    return f"<= {target}", "OK" if count <= target else "OVER"


def main() -> int:
    _isolate_path()
    from bench.harness import configure_env

    configure_env(PLATFORM_KEY, SLACK_SSM_SETTINGS + MAILCHIMP_SSM_SETTINGS)
    failures: list[str] = []

    rows, health_s, me_s = measure_requests()
    print("AWS calls per request (botocore before-call events, moto in-process)")
    width = max(len(label) for label, _, _ in rows)
    print(f"  {'request':<{width}} {'calls':>5}  {'target':>6}  {'':5}  operations")
    for label, calls, target in rows:
        shown, verdict = _judge(len(calls), target)
        print(f"  {label:<{width}} {len(calls):>5}  {shown:>6}  {verdict:5}  {', '.join(calls) or '(none)'}")
        if verdict not in {"OK", "-"}:
            failures.append(f"{label} makes {len(calls)} AWS calls, target {shown}")

    print(f"\nRequest time (chalice test Client, moto in-process, median of {REQUEST_RUNS})")
    print("  absolute times are emulator times, not Lambda's; read the ratio")
    print(f"  GET /health (no AWS, baseline)  {health_s * 1e3:7.2f} ms  1.00")
    print(f"  GET /me (authenticated)         {me_s * 1e3:7.2f} ms  {me_s / health_s:.2f}")

    from bench.harness import conclude

    return conclude(failures)


if __name__ == "__main__":
    sys.exit(main())
