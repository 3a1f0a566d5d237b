"""End to end: no secret the suite hands the backend reaches its logs (issue 18). A flow of its
own, in a domain of its own, uses a password, bearer tokens, an invitation token, a 2FA email
code, a challenge id and a trusted-browser token, a presigned upload URL and a Slack webhook
URL's secret; then the runner's captured output is searched for every one of them.

What the runner prints on purpose for the developer is left out of the search: its banner
(the platform key and the demo password) and the emails it prints (invitation links, codes).
Every other line is either a JSON log line of the app, whose summary lines are also checked
for their shape, or the local server's access log."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.e2e.conftest import PLATFORM_KEY, Runner, emails_sent

DOMAIN = "e2e-secrets"
EMAIL = f"admin@{DOMAIN}.example"
PASSWORD = f"secret passphrase {secrets.token_hex(6)}"
MEMBER = f"member@{DOMAIN}.example"
MEMBER_PASSWORD = f"member passphrase {secrets.token_hex(6)}"
_BANNER = re.compile(r"Office Chat admin backend is running\..*?Ctrl-C stops everything\.", re.S)
_EMAIL = re.compile(r"^-{72}\nEMAIL to: .*?^-{72}$", re.S | re.M)


def _call(runner: Runner, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return requests.request(method, f"{runner.url}{path}", headers=headers, timeout=10, **kwargs)


def _mail_to(runner: Runner, address: str) -> str:
    return str([m for m in emails_sent(runner) if address in str(m.get("destinations"))][-1]["body"])


def _login(runner: Runner) -> dict[str, Any]:
    answer = _call(
        runner, "POST", "/auth/login", json={"domain": DOMAIN, "email": EMAIL, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _use_secrets(runner: Runner) -> dict[str, str]:
    """Drives the flows; returns every secret value they used, by name."""
    used = {"platform key": PLATFORM_KEY, "password": PASSWORD, "member password": MEMBER_PASSWORD}
    admin = {"email": EMAIL, "first_name": "Sam", "last_name": "Secret", "password": PASSWORD}
    body = {"domain": DOMAIN, "plan": "business", "billing": "monthly", "hipaa": False, "admin": admin}
    provisioned = _call(
        runner, "POST", "/platform/domains", json=body, headers={"X-Platform-Key": PLATFORM_KEY}
    )
    assert provisioned.status_code == 201, provisioned.text
    wrong = {"domain": DOMAIN, "email": EMAIL, "password": "not the passphrase"}
    assert _call(runner, "POST", "/auth/login", json=wrong).status_code == 401
    token = _login(runner)["token"]
    used["token"] = token

    # An invitation: its token comes by email; the member sets a password and signs in.
    invited = _call(
        runner,
        "POST",
        "/admin/users",
        token,
        json={"email": MEMBER, "first_name": "M", "last_name": "E", "send_invite": True},
    )
    assert invited.status_code == 201, invited.text
    found = re.search(r"accept-invite\?token=(\S+)", _mail_to(runner, MEMBER))
    assert found
    invitation = found.group(1)
    assert _call(runner, "GET", f"/accept-invite?token={invitation}").status_code == 200
    accepted = _call(
        runner, "POST", "/auth/accept-invite", json={"token": invitation, "password": MEMBER_PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    used.update(invitation=invitation, member_token=accepted.json()["token"])

    # A presigned upload: its signature, and the file's download URL.
    ticket = _call(
        runner, "POST", "/files", token, json={"filename": "a.txt", "content_type": "text/plain", "size": 2}
    ).json()
    assert requests.put(ticket["upload_url"], data=b"hi", headers=ticket["headers"], timeout=10).ok
    used["upload signature"] = parse_qs(urlsplit(ticket["upload_url"]).query)["X-Amz-Signature"][0]
    download = _call(runner, "GET", f"/files/{ticket['file_id']}", token).json()["download_url"]
    used["download signature"] = parse_qs(urlsplit(download).query)["X-Amz-Signature"][0]

    # A Slack integration: its webhook URL's secret, called as Slack would, and its OAuth state.
    group = _call(runner, "POST", "/groups", token, json={"name": "Secrets e2e"}).json()["id"]
    slack = f"/groups/{group}/integrations/slack"
    created = _call(runner, "POST", slack, token, json={"display_name": "Secrets"})
    assert created.status_code == 201, created.text
    webhook = created.json()["webhook_url"]
    used["webhook secret"] = webhook.rsplit("/", 1)[1]
    used["oauth state"] = parse_qs(urlsplit(created.json()["authorize_url"]).query)["state"][0]
    requests.post(webhook, data={"token": "t", "text": "hello", "user_name": "someone"}, timeout=10)
    _call(runner, "DELETE", slack, token)

    # 2FA by email: the code, the challenge and the trusted-browser token.
    security = {"two_factor": "email", "validity_days": 7}
    assert _call(runner, "PUT", "/admin/settings/security", token, json=security).status_code == 200
    challenge = _login(runner)["challenge"]["id"]
    wrong = _call(runner, "POST", "/auth/2fa", json={"challenge_id": challenge, "code": "000000"})
    assert wrong.status_code == 401, wrong.text
    found = re.search(r"\b(\d{6})\b", _mail_to(runner, EMAIL))
    assert found
    passed = _call(runner, "POST", "/auth/2fa", json={"challenge_id": challenge, "code": found.group(1)})
    assert passed.status_code == 200, passed.text
    used.update(code=found.group(1), challenge=challenge, token_2fa=passed.json()["token"])
    used["trusted token"] = passed.json()["trusted_token"]
    assert _call(runner, "GET", "/me", passed.json()["token"]).status_code == 200
    return used


def _logged(output: str) -> str:
    """The runner's output but for what it shows the developer on purpose."""
    return _EMAIL.sub("", _BANNER.sub("", output))


def test_no_secret_used_reaches_the_logs(runner: Runner) -> None:
    used = _use_secrets(runner)
    output = runner.output()
    assert used["code"] in output and used["invitation"] in output  # the emails the runner printed
    logged = _logged(output)
    # A six-digit code is looked for as a word of its own: hex ids may hold six digits in a row.
    leaked = [name for name, value in used.items() if value in logged and name != "code"]
    leaked += ["code"] if re.search(rf"\b{used['code']}\b", logged) else []
    assert not leaked, f"secrets in the logs: {leaked}"

    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line.get("message") == "request" and "route" in line]
    ours = [line for line in requests_logged if line.get("domain") == DOMAIN]
    routes = {(line["method"], line["route"], line["status"]) for line in ours}
    assert ("GET", "/me", 200) in routes and ("POST", "/files", 201) in routes
    assert ("POST", "/auth/login", 200) in routes and ("POST", "/auth/login", 401) in routes
    assert any((line["route"], line["status"]) == ("/auth/2fa", 401) for line in requests_logged)
    me = [line for line in ours if line["route"] == "/me"][-1]
    assert me["aws_calls"] and me["aws_call_count"] == sum(me["aws_calls"].values())
    hooks = [line for line in requests_logged if line["route"] == "/hooks/slack/{secret}"]
    assert hooks  # the webhook's request was logged, under its route's template
    emf = [line for line in lines if "_aws" in line and line.get("domain") == DOMAIN]
    assert {line.get("Outcome") for line in emf if "Logins" in line} >= {"signed_in", "challenged", "failed"}
    assert any("TwoFactorFailures" in line for line in emf)
