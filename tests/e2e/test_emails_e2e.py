"""End to end against `make run`'s runner: the emails it prints read like emails, whichever SES
call sent them. A bulk templated invitation (an operator's drop with send-invites) is printed
rendered from the template stored in the emulator's SES: recipient, subject, body, the accept
link; laid out as the single invitation (POST /admin/users with send_invite) is; and the printed
link is the one that works."""

from __future__ import annotations

import re
import time
import uuid

import boto3
import pytest
import requests

from tests.e2e.conftest import Runner, admin_headers

pytestmark = pytest.mark.e2e

RULE = "-" * 72
TIMEOUT_SECONDS = 60


def _printed_email(runner: Runner, to: str) -> str:
    """The email the runner printed to `to` (one only), from `EMAIL to:` to the closing rule."""

    def printed() -> list[str]:
        blocks = (block.strip() for block in runner.output().split(RULE))
        return [block for block in blocks if block.startswith(f"EMAIL to: {to}\n")]

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        if printed():
            time.sleep(0.5)  # a second one would come right after
            blocks = printed()
            assert len(blocks) == 1, blocks
            return blocks[0]
        assert time.monotonic() < deadline, f"no email to {to} was printed:\n{runner.output()[-3000:]}"
        time.sleep(0.3)


def _shape(block: str, link_prefix: str) -> list[str]:
    """The layout of a printed email, the words aside: header lines, blank lines, the link line."""
    lines = []
    for line in block.splitlines():
        if line.startswith(("EMAIL to: ", "subject: ")):
            lines.append(line.split(":", 1)[0])
        elif line.startswith(link_prefix):
            lines.append("<link>")
        else:
            lines.append("<text>" if line else "")
    return lines


def test_a_bulk_invitation_is_printed_as_the_email_ses_sends(runner: Runner) -> None:
    admin = admin_headers(runner)
    tag = uuid.uuid4().hex[:8]
    single, bulk = f"mail-{tag}-ines@demo.local", f"mail-{tag}-jo@demo.local"
    link_prefix = f"{runner.url}/accept-invite?token="

    created = requests.post(
        f"{runner.url}/admin/users",
        headers=admin,
        timeout=10,
        json={"email": single, "first_name": "Ines", "last_name": "Ibsen", "send_invite": True},
    )
    assert created.status_code == 201, created.text
    s3 = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=f"http://127.0.0.1:{runner.aws_port}")
    s3.put_object(
        Bucket="office-chat-files",
        Key=f"imports/demo/e2e-mail-{tag}.csv",
        Body=f"Email,First Name,Last Name\n{bulk},Jolene,Jansen\n".encode(),
        ContentType="text/csv",
        Metadata={"mode": "skip", "send-invites": "true"},
    )

    printed = _printed_email(runner, bulk)
    lines = printed.splitlines()
    # An S3 drop names no admin (no requested-by): the email says who in general terms.
    assert lines[1] == "subject: Your administrator invited you to demo on Office Chat", printed
    assert lines[3] == "Hello Jolene,", printed
    links = [line for line in lines if line.startswith(link_prefix)]
    assert len(links) == 1 and re.fullmatch(r"\S+", links[0]), printed
    assert "[template" not in runner.output() and "note:" not in printed  # rendered, nothing missing

    by_hand = _printed_email(runner, single)
    assert _shape(by_hand, link_prefix) == _shape(printed, link_prefix)  # a reader cannot tell

    accepted = requests.post(
        f"{runner.url}/auth/accept-invite",
        timeout=10,
        json={"token": links[0].removeprefix(link_prefix), "password": "a printed invitation"},
    )
    assert accepted.status_code == 200, accepted.text  # the printed link is the one SES carried
