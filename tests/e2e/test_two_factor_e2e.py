"""End to end over HTTP against `make run`'s runner: an admin turns 2FA on; a web sign-in passes
by an email code read off the emulator's SES (and printed by the runner), then by an
authenticator app enrolled from the otpauth URI; "Reset QR code" makes it enrol again.

It works in a domain of its own, so the demo domain's other tests keep signing in without 2FA."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyotp
import requests

from tests.e2e.conftest import PLATFORM_KEY, Runner, emails_sent

DOMAIN = "e2e-2fa"
EMAIL = f"admin@{DOMAIN}.example"
PASSWORD = "two factor e2e passphrase"


def _post(runner: Runner, path: str, body: dict[str, Any], token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(f"{runner.url}{path}", json=body, headers=headers, timeout=10)


def _login(runner: Runner) -> dict[str, Any]:
    body = {"domain": DOMAIN, "email": EMAIL, "password": PASSWORD, "client": "web"}
    answer = _post(runner, "/auth/login", body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _code_from_email(runner: Runner) -> str:
    mail = [m for m in emails_sent(runner) if EMAIL in str(m.get("destinations"))][-1]
    found = re.search(r"\b(\d{6})\b", str(mail["body"]))
    assert found, mail
    return found.group(1)


def test_email_code_then_authenticator_app_then_reset(runner: Runner) -> None:
    provisioned = requests.post(
        f"{runner.url}/platform/domains",
        headers={"X-Platform-Key": PLATFORM_KEY},
        timeout=10,
        json={
            "domain": DOMAIN,
            "plan": "business",
            "billing": "monthly",
            "hipaa": False,
            "admin": {"email": EMAIL, "first_name": "Tia", "last_name": "Two", "password": PASSWORD},
        },
    )
    assert provisioned.status_code == 201, provisioned.text
    token = _login(runner)["token"]
    auth = {"Authorization": f"Bearer {token}"}
    settings = requests.put(
        f"{runner.url}/admin/settings/security",
        headers=auth,
        json={"two_factor": "email", "validity_days": 7},
        timeout=10,
    )
    assert settings.json() == {"two_factor": "email", "validity_days": 7}

    # Email: the code comes by SES; the runner prints it on the console too.
    challenge = _login(runner)
    assert challenge["status"] == "2fa_required" and challenge["challenge"]["method"] == "email"
    code = _code_from_email(runner)
    assert code in runner.output()
    passed = _post(runner, "/auth/2fa", {"challenge_id": challenge["challenge"]["id"], "code": code})
    assert passed.status_code == 200, passed.text
    assert passed.json()["trusted_token"] and passed.json()["trusted_until"]
    token = passed.json()["token"]

    # Authenticator app: enrol from the otpauth URI, as a phone scanning the QR code would.
    requests.put(
        f"{runner.url}/admin/settings/security",
        headers={"Authorization": f"Bearer {token}"},
        json={"two_factor": "totp", "validity_days": 0},
        timeout=10,
    )
    enrol = _login(runner)["challenge"]
    assert enrol["enroll"] is True and enrol["qr_svg"].startswith("<svg")
    secret = parse_qs(urlparse(enrol["otpauth_uri"]).query)["secret"][0]
    passed = _post(runner, "/auth/2fa", {"challenge_id": enrol["id"], "code": pyotp.TOTP(secret).now()})
    assert passed.status_code == 200, passed.text
    assert len(passed.json()["recovery_codes"]) == 10
    token = passed.json()["token"]
    me = requests.get(f"{runner.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert me["two_factor"] == {"method": "totp", "enrolled": True}

    # "Reset QR code" (here the admin's own): tokens end, the next sign-in shows a new QR code.
    reset = _post(runner, f"/admin/users/{me['id']}/2fa/reset", {}, token=token)
    assert reset.status_code == 200 and reset.json()["two_factor"]["enrolled"] is False
    gone = requests.get(f"{runner.url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert gone.status_code == 401
    again = _login(runner)["challenge"]
    assert again["enroll"] is True
    assert parse_qs(urlparse(again["otpauth_uri"]).query)["secret"][0] != secret
