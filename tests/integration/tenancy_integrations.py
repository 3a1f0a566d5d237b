"""Tenancy of the integration routes (issue 15): a domain's services page and its groups'
integrations are its own; webhooks and callbacks reach only the group they were made for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.core.signing import sign
from chalicelib.domain.integrations import Service
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.services.integrations import hook_secret
from tests.conftest import Api, error_of
from tests.integration.slack_support import slack_group, webhook_path


def check_services_page(api: Api) -> None:
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    slack_group(api, globex)
    assert api.call("PUT", "/admin/integrations/slack", {"enabled": False}, token=globex).status_code == 200
    acme_page = api.call("GET", "/admin/integrations", token=acme).json_body["services"]
    assert acme_page[0] == {"service": "slack", "enabled": True, "groups": 0}
    globex_page = api.call("GET", "/admin/integrations", token=globex).json_body["services"]
    assert globex_page[0] == {"service": "slack", "enabled": False, "groups": 1}
    assert api.call("PUT", "/admin/integrations/slack", {"enabled": True}, token=acme).status_code == 200
    assert api.call("GET", "/admin/integrations", token=globex).json_body["services"][0]["enabled"] is False


def check_group_integration(api: Api) -> None:
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    group, integration = slack_group(api, globex)
    path = f"/groups/{group['id']}/integrations/slack"
    for method, body in (("GET", None), ("PATCH", {"display_name": "x"}), ("DELETE", None)):
        assert error_of(api.call(method, path, body, token=acme)) == (404, "group_not_found")
    assert error_of(api.call("POST", path, {"display_name": "x"}, token=acme)) == (404, "group_not_found")
    assert api.call("GET", path, token=globex).json_body["display_name"] == integration["display_name"]


def check_hooks(api: Api) -> None:
    """A webhook URL feeds its own group only; a callback's state names its own integration."""
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    acme_group, acme_integration = slack_group(api, acme)
    globex_group, _ = slack_group(api, globex)
    form = b"team_id=T1&channel_id=C1&timestamp=1.1&user_name=Jo&text=for+acme"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api.client.http.post(webhook_path(acme_integration), headers=headers, body=form).status_code == 200
    globex_messages = api.call("GET", f"/groups/{globex_group['id']}/messages", token=globex).json_body
    assert globex_messages["items"] == []
    acme_messages = api.call("GET", f"/groups/{acme_group['id']}/messages", token=acme).json_body
    assert [m["text"] for m in acme_messages["items"]] == ["for acme"]
    # a state names its integration's domain: a validly signed one naming acme's integration
    # under globex finds nothing there
    claims = {"d": "globex", "g": acme_group["id"], "i": acme_integration["id"], "n": "n0"}
    state = sign("slack-oauth-state", claims, datetime(2026, 11, 24, 12, 30, tzinfo=UTC))
    answer = api.client.http.get(f"/oauth/slack/callback?code=x&state={state}")
    assert answer.status_code == 400 and "no longer exists" in answer.body.decode()
    events = api.client.http.post(
        "/hooks/slack/events", headers={"Content-Type": "application/json"}, body=b"{}"
    )
    assert error_of(events) == (401, "invalid_signature")


def check_mailchimp(api: Api) -> None:
    """Another domain's group's MailChimp integration is a 404 on every route; its receiver
    feeds only its own group."""
    acme, globex = api.admin_token("acme"), api.admin_token("globex")
    group = api.call("POST", "/groups", {"name": "Marketing"}, token=globex).json_body
    path = f"/groups/{group['id']}/integrations/mailchimp"
    assert api.call("POST", path, token=globex).status_code == 201
    for method, body in (("POST", None), ("GET", None), ("PUT", {"list_ids": ["x"]}), ("DELETE", None)):
        assert error_of(api.call(method, path, body, token=acme)) == (404, "group_not_found")
    assert error_of(api.call("GET", f"{path}/lists", token=acme)) == (404, "group_not_found")
    assert api.call("GET", path, token=globex).json_body["status"] == "pending_auth"
    integration = IntegrationRepository(Table()).get("globex", group["id"], Service.MAILCHIMP)
    assert integration is not None
    hook = f"/hooks/mailchimp/{hook_secret(integration)}"
    assert api.client.http.get(hook).status_code == 200  # globex's URL, known; nothing of acme's
    assert error_of(api.client.http.get(f"{hook[:-2]}zz")) == (404, "webhook_not_found")
    claims = {"d": "acme", "g": group["id"], "i": integration.id, "n": "n1"}
    state = sign("mailchimp-oauth-state", claims, datetime(2026, 11, 24, 12, 30, tzinfo=UTC))
    answer = api.client.http.get(f"/oauth/mailchimp/callback?code=x&state={state}")
    assert answer.status_code == 400 and "no longer exists" in answer.body.decode()


ROUTE_CHECKS: dict[tuple[str, str], Callable[[Api], None]] = {
    ("/admin/integrations", "GET"): check_services_page,
    ("/admin/integrations/{service}", "PUT"): check_services_page,
    ("/groups/{group_id}/integrations/slack", "POST"): check_group_integration,
    ("/groups/{group_id}/integrations/slack", "GET"): check_group_integration,
    ("/groups/{group_id}/integrations/slack", "PATCH"): check_group_integration,
    ("/groups/{group_id}/integrations/slack", "DELETE"): check_group_integration,
    ("/hooks/slack/{secret}", "POST"): check_hooks,
    ("/hooks/slack/events", "POST"): check_hooks,
    ("/oauth/slack/callback", "GET"): check_hooks,
    ("/groups/{group_id}/integrations/mailchimp", "POST"): check_mailchimp,
    ("/groups/{group_id}/integrations/mailchimp", "GET"): check_mailchimp,
    ("/groups/{group_id}/integrations/mailchimp", "PUT"): check_mailchimp,
    ("/groups/{group_id}/integrations/mailchimp", "DELETE"): check_mailchimp,
    ("/groups/{group_id}/integrations/mailchimp/lists", "GET"): check_mailchimp,
    ("/hooks/mailchimp/{secret}", "GET"): check_mailchimp,
    ("/hooks/mailchimp/{secret}", "POST"): check_mailchimp,
    ("/oauth/mailchimp/callback", "GET"): check_mailchimp,
}
