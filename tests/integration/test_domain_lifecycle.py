"""§1 Suspend and resume a domain (issue 17): while suspended every login and token of the domain
answers 403 `domain_suspended` and its webhooks 404; nothing is deleted; resume restores it all.
Both are idempotent and audited."""

from __future__ import annotations

from typing import Any

from tests.conftest import PLATFORM_KEY, Api, error_of
from tests.integration.slack_support import group_texts, send_outgoing, slack_group, webhook_path

PLATFORM = {"X-Platform-Key": PLATFORM_KEY}
FORM = "team_id=T1&channel_id=C1&timestamp={ts}&user_name=Jo&text=hello+{ts}"


def _platform(api: Api, action: str, domain: str = "acme") -> Any:
    return api.call("POST", f"/platform/domains/{domain}/{action}", headers=PLATFORM)


def test_suspend_refuses_everything_and_resume_restores_it(api: Api) -> None:
    token = api.admin_token()
    group, integration = slack_group(api, token)
    hook = webhook_path(integration)
    suspended = _platform(api, "suspend")
    assert suspended.status_code == 200 and suspended.json_body["status"] == "suspended"
    assert error_of(api.login("acme")) == (403, "domain_suspended")
    assert error_of(api.call("GET", "/me", token=token)) == (403, "domain_suspended")
    assert error_of(send_outgoing(api, hook, FORM.format(ts="1.1"))) == (404, "webhook_not_found")
    resumed = _platform(api, "resume")
    assert resumed.status_code == 200 and resumed.json_body["status"] == "active"
    assert api.call("GET", "/me", token=token).status_code == 200  # nothing was revoked
    assert api.login("acme").status_code == 200
    assert send_outgoing(api, hook, FORM.format(ts="1.2")).status_code == 200
    assert [m["text"] for m in group_texts(api, token, group["id"])] == ["hello 1.2"]


def test_suspend_and_resume_are_idempotent_and_audited(api: Api) -> None:
    token = api.admin_token()
    for action in ("suspend", "suspend", "resume", "resume"):
        assert _platform(api, action).status_code == 200
    actions = [e["action"] for e in api.call("GET", "/admin/audit", token=token).json_body["items"]]
    assert actions == ["domain.resumed", "domain.suspended", "domain.provisioned"]
    listed = api.call("GET", "/platform/domains?status=suspended", headers=PLATFORM).json_body["items"]
    assert listed == []


def test_only_the_operator_and_only_known_domains(api: Api) -> None:
    token = api.admin_token()
    assert error_of(api.call("POST", "/platform/domains/acme/suspend", token=token)) == (
        401,
        "invalid_platform_key",
    )
    assert error_of(_platform(api, "suspend", "nosuch")) == (404, "domain_not_found")
    assert error_of(_platform(api, "resume", "Not_A_Name")) == (404, "domain_not_found")
    assert api.call("GET", "/me", token=token).status_code == 200
