"""`make run`: the whole backend on this machine.

moto server (the AWS emulator) on 127.0.0.1:$OC_AWS_PORT, the resources of infra/template.yaml
in it, the SES sender verified, the demo domain provisioned, the API on 127.0.0.1:$OC_PORT, a
pump delivering the SQS queues to the Lambda handlers, every email printed. Ctrl-C stops it all.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass

from localdev import run_dir
from localdev.fake_mailchimp import FakeMailchimp
from localdev.fake_slack import FakeSlack
from localdev.pump import DEFAULT_CONCURRENCY, QueuePump

HOST = "127.0.0.1"
DEMO_DOMAIN = "demo"
DEMO_ADMIN = "admin@demo.local"


@dataclass(frozen=True)
class LocalConfig:
    port: int
    aws_port: int
    slack_port: int  # the fake Slack's, when no real Slack app is configured
    mailchimp_port: int  # the fake MailChimp's, when no real MailChimp app is configured
    region: str
    platform_key: str
    platform_key_generated: bool
    demo_password: str
    demo_password_generated: bool

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def aws_url(self) -> str:
        return f"http://{HOST}:{self.aws_port}"


def read_config() -> LocalConfig:
    key = os.environ.get("OC_PLATFORM_KEY", "").strip()
    password = os.environ.get("OC_DEMO_PASSWORD", "").strip()
    return LocalConfig(
        port=int(os.environ.get("OC_PORT") or 8000),
        aws_port=int(os.environ.get("OC_AWS_PORT") or 4566),
        slack_port=int(os.environ.get("OC_SLACK_PORT") or 4599),
        mailchimp_port=int(os.environ.get("OC_MAILCHIMP_PORT") or 4598),
        region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        platform_key=key or secrets.token_urlsafe(24),
        platform_key_generated=not key,
        demo_password=password or f"demo-{secrets.token_urlsafe(12)}",
        demo_password_generated=not password,
    )


def check_port_free(port: int, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: connections of a previous run in TIME_WAIT do not count, listeners do.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            sys.exit(
                f"make run: port {port} on {HOST} is already in use (is another `make run` "
                f"running?). Stop it, or pick another port: {variable}=<port> make run"
            )


def set_environment(config: LocalConfig) -> None:
    """The app reads its settings from the environment, as in Lambda; point it at the emulator."""
    os.environ.update(
        {
            "OC_AWS_ENDPOINT_URL": config.aws_url,
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or "testing",
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing",
            "OC_PLATFORM_KEY": config.platform_key,
            "OC_CURSOR_KEY": local_cursor_key(),
            "OC_PUBLIC_URL": os.environ.get("OC_PUBLIC_URL") or config.api_url,
        }
    )
    os.environ.pop("AWS_PROFILE", None)


def uses_fake_slack() -> bool:
    """No Slack app of the operator's (SLACK_CLIENT_ID unset): the run brings a fake Slack."""
    return not os.environ.get("SLACK_CLIENT_ID", "").strip()


def start_fake_slack(config: LocalConfig) -> FakeSlack:
    """A fake Slack (localdev/fake_slack.py) as the Slack of this run: the app's Slack settings
    point at it, with a client id, client secret and signing secret made up for the run."""
    fake = FakeSlack(verbose=True)
    fake.start(config.slack_port)
    os.environ.update(
        {
            "SLACK_CLIENT_ID": fake.client_id,
            "SLACK_CLIENT_SECRET": fake.client_secret,
            "SLACK_SIGNING_SECRET": os.environ.get("SLACK_SIGNING_SECRET") or secrets.token_hex(16),
            "SLACK_API_URL": fake.api_url,
            "SLACK_AUTHORIZE_URL": fake.authorize_url,
        }
    )
    return fake


def uses_fake_mailchimp() -> bool:
    """No MailChimp app of the operator's (MAILCHIMP_CLIENT_ID unset): the run brings a fake."""
    return not os.environ.get("MAILCHIMP_CLIENT_ID", "").strip()


def start_fake_mailchimp(config: LocalConfig) -> FakeMailchimp:
    """A fake MailChimp (localdev/fake_mailchimp.py) as this run's: its login URL is the app's
    MAILCHIMP_LOGIN_URL, and the account's API endpoint points back at it. It checks a webhook's
    URL as MailChimp does before creating it."""
    fake = FakeMailchimp(verbose=True)
    fake.validate_urls = True
    fake.start(config.mailchimp_port)
    os.environ.update(
        {
            "MAILCHIMP_CLIENT_ID": fake.client_id,
            "MAILCHIMP_CLIENT_SECRET": fake.client_secret,
            "MAILCHIMP_LOGIN_URL": fake.login_url,
        }
    )
    return fake


def mailchimp_lines(fake: FakeMailchimp | None) -> str:
    if fake is None:
        return f"  MailChimp      the MailChimp app {os.environ['MAILCHIMP_CLIENT_ID']}"
    return (
        f"  MailChimp      a fake MailChimp at {fake.url} (set MAILCHIMP_CLIENT_ID... for a real app)\n"
        f"                 its webhooks: curl {fake.url}/_fake/webhooks; an event: "
        f"curl -X POST '{fake.url}/_fake/fire?list_id=a1b2c3d4e5&type=subscribe&email=jane@example.com'"
    )


def slack_lines(fake: FakeSlack | None) -> str:
    if fake is None:
        api = os.environ.get("SLACK_API_URL") or "https://slack.com/api"
        return f"  Slack          the Slack app {os.environ['SLACK_CLIENT_ID']} at {api}"
    return (
        f"  Slack          a fake Slack at {fake.url} (set SLACK_CLIENT_ID... for a real Slack app)\n"
        f"                 its posts: curl {fake.url}/_fake/posts; signing secret in "
        f"{run_dir.shown(run_dir.SLACK_SIGNING_SECRET)}"
    )


def local_cursor_key() -> str:
    """OC_CURSOR_KEY as set, else one generated for this run (list cursors die with the run); an
    empty value where OC_CURSOR_KEY_SSM_PARAM names the key, so that the app reads that one."""
    chosen = os.environ.get("OC_CURSOR_KEY", "").strip()
    if chosen or os.environ.get("OC_CURSOR_KEY_SSM_PARAM", "").strip():
        return chosen
    return secrets.token_urlsafe(32)


def _die_with_parent() -> None:
    """Runs in the emulator's child process: Linux kills it if this runner dies, even by SIGKILL."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_emulator(config: LocalConfig) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.emulator", "-H", HOST, "-p", str(config.aws_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - needed for the death signal
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"make run: the AWS emulator exited at start (code {process.returncode})")
        try:
            urllib.request.urlopen(f"{config.aws_url}/moto-api/", timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    sys.exit("make run: the AWS emulator did not start within 30 s")


def provision_resources(region: str) -> dict[str, str]:
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from infra.emulator import provision_emulator

    settings = get_settings()
    created = provision_emulator(
        aws.client,
        region,
        {
            "TableName": settings.table_name,
            "BucketName": settings.bucket,
            "S3EventsQueueName": settings.s3_events_queue,
            "JobsQueueName": settings.jobs_queue,
        },
    )
    aws.ses().verify_email_identity(EmailAddress=settings.email_sender)
    return {
        "s3_events_url": created.refs["S3EventsQueue"],
        "s3_events_arn": created.attributes[("S3EventsQueue", "Arn")],
        "jobs_url": created.refs["JobsQueue"],
        "jobs_arn": created.attributes[("JobsQueue", "Arn")],
    }


DEMO_SEATS = 250_000  # room for a 100 000-row import, twice


def provision_demo(password: str) -> None:
    from chalicelib.bootstrap import services
    from chalicelib.domain.models import Billing, Plan
    from chalicelib.services.platform import AdminSpec, ProvisionRequest

    services().platform.provision(
        ProvisionRequest(
            domain=DEMO_DOMAIN,
            plan=Plan.ENTERPRISE,
            billing=Billing.ANNUAL,
            seats=int(os.environ.get("OC_DEMO_SEATS", "") or DEMO_SEATS),
            hipaa=False,
            admin=AdminSpec(DEMO_ADMIN, "Demo", "Admin", password),
        )
    )


PUMP_STOP_GRACE_SECONDS = 5.0  # how long Ctrl-C waits for running deliveries before it abandons them


def read_pump_concurrency() -> int:
    """OC_PUMP_CONCURRENCY: deliveries of one queue run at once, as Lambda runs them (default 4)."""
    raw = os.environ.get("OC_PUMP_CONCURRENCY", "").strip()
    if not raw:
        return DEFAULT_CONCURRENCY
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        sys.exit(
            f"make run: OC_PUMP_CONCURRENCY must be a positive integer (deliveries of one queue "
            f"run at once), not {raw!r}. Unset it for the default, {DEFAULT_CONCURRENCY}."
        )
    return value


def start_pumps(
    queues: dict[str, str], region: str, stop: threading.Event, concurrency: int
) -> list[QueuePump]:
    from chalicelib.core import aws
    from chalicelib.events import handlers

    pumps = [
        QueuePump(aws.sqs(), url, arn, region, handler, stop, concurrency)
        for url, arn, handler in (
            (queues["s3_events_url"], queues["s3_events_arn"], handlers.on_s3_event),
            (queues["jobs_url"], queues["jobs_arn"], handlers.on_job),
        )
    ]
    for pump in pumps:
        pump.start()
    return pumps


def stop_pumps(pumps: list[QueuePump], stop: threading.Event) -> None:
    """No new receive; the running deliveries get a few seconds to end (delete or release their
    message) before the emulator goes. One still running after that is abandoned, like a Lambda
    that timed out: its message was not deleted."""
    stop.set()
    deadline = time.monotonic() + PUMP_STOP_GRACE_SECONDS
    for pump in pumps:
        pump.join_deliveries(max(0.0, deadline - time.monotonic()))


def banner(
    config: LocalConfig, fake_slack: FakeSlack | None = None, fake_mailchimp: FakeMailchimp | None = None
) -> str:
    key_note = " (generated; set OC_PLATFORM_KEY to choose it)" if config.platform_key_generated else ""
    password_note = (
        " (generated; set OC_DEMO_PASSWORD to choose it)" if config.demo_password_generated else ""
    )
    return f"""
Office Chat admin backend is running.

  API            {config.api_url}   (GET /health answers {{"status":"ok"}})
  AWS emulator   {config.aws_url}   (moto server)
  Platform key   {config.platform_key}{key_note}
                 also in {run_dir.shown(run_dir.PLATFORM_KEY)}, for the README's walk-through
  Demo domain    {DEMO_DOMAIN}
  Demo admin     {DEMO_ADMIN}
  Password       {config.demo_password}{password_note}
  Emails         printed below, and kept in {run_dir.shown(run_dir.MAILBOX)}
{slack_lines(fake_slack)}
{mailchimp_lines(fake_mailchimp)}

Log in:
{login_example(config)}

Drop files into the bucket (operators):
{drop_example(config)}

Ctrl-C stops everything.
"""


def login_example(config: LocalConfig) -> str:
    """The demo admin's login, as a command that works pasted as printed."""
    body = {"domain": DEMO_DOMAIN, "email": DEMO_ADMIN, "password": config.demo_password, "client": "web"}
    payload = shlex.quote(json.dumps(body, separators=(",", ":")))
    return f"  curl -s {config.api_url}/auth/login -H 'Content-Type: application/json' \\\n    -d {payload}"


def drop_example(config: LocalConfig) -> str:
    """An `aws s3 cp` that works as printed: the emulator takes any credentials, but the CLI
    refuses to sign without some, so the line carries the ones this run uses."""
    bucket = os.environ.get("OC_BUCKET") or "office-chat-files"
    credentials = " ".join(
        f"{name}={shlex.quote(os.environ.get(name) or 'testing')}"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    )
    return (
        f"  {credentials} AWS_DEFAULT_REGION={config.region} \\\n"
        f"    aws --endpoint-url {config.aws_url} s3 cp users.csv s3://{bucket}/imports/{DEMO_DOMAIN}/"
    )


def main() -> None:
    config = read_config()
    check_port_free(config.port, "OC_PORT")
    check_port_free(config.aws_port, "OC_AWS_PORT")
    if uses_fake_slack():
        check_port_free(config.slack_port, "OC_SLACK_PORT")
    if uses_fake_mailchimp():
        check_port_free(config.mailchimp_port, "OC_MAILCHIMP_PORT")
    pump_concurrency = read_pump_concurrency()
    set_environment(config)  # before anything reads the settings: they are cached on first use
    fake_slack = start_fake_slack(config) if uses_fake_slack() else None  # it sets Slack's settings
    fake_mailchimp = start_fake_mailchimp(config) if uses_fake_mailchimp() else None
    from chalicelib.core.log import configure_logging

    configure_logging()
    emulator = start_emulator(config)
    stop = threading.Event()
    server = None
    pumps: list[QueuePump] = []

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    # Ctrl-C must stop us even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        queues = provision_resources(config.region)
        provision_demo(config.demo_password)
        from localdev import mail_printer

        mail_printer.install()
        pumps = start_pumps(queues, config.region, stop, pump_concurrency)
        from app import app
        from localdev.server import create_server

        server = create_server(app, HOST, config.port)
        run_dir.start(config.platform_key, os.environ.get("SLACK_SIGNING_SECRET") if fake_slack else None)
        print(banner(config, fake_slack, fake_mailchimp), flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
    finally:
        if server is not None:
            server.server.server_close()
        stop_pumps(pumps, stop)
        for fake in (fake_slack, fake_mailchimp):
            if fake is not None:
                fake.stop()
        run_dir.stop()
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()


if __name__ == "__main__":
    main()
