"""How the product's objects look on the wire (the contract's JSON shapes)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import iso
from chalicelib.domain import two_factor
from chalicelib.domain.device_ids import device_admin_id
from chalicelib.domain.devices import action_for
from chalicelib.services.integrations import hook_url
from chalicelib.services.signin import IssuedChallenge

if TYPE_CHECKING:  # named in annotations only: a cold request does not load these modules
    from chalicelib.domain.devices import Device
    from chalicelib.domain.import_record import ImportRecord
    from chalicelib.domain.integrations import Integration
    from chalicelib.domain.jobs import Job
    from chalicelib.domain.models import (
        AuditEntry,
        Domain,
        File,
        Group,
        Membership,
        Message,
        SecurityPolicy,
        User,
    )
    from chalicelib.domain.reports import Report
    from chalicelib.services.files import DownloadTicket
    from chalicelib.services.integrations import ServiceState
    from chalicelib.services.mailchimp import Audience, ListOutcome
    from chalicelib.services.messages import ChatSummary, Messages
    from chalicelib.services.signin import SignIn
    from chalicelib.services.two_factor import ChallengePassed


def user_view(user: User, security: SecurityPolicy) -> dict[str, Any]:
    """A user as the contract shows it; the 2FA method is the domain's, where it applies."""
    method = two_factor.method_of(security, user)
    return {
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "title": user.title,
        "phone": user.phone,
        "department": user.department,
        "role": user.role.value,
        "status": user.status.value,
        "auth_provider": user.auth_provider.value,
        "two_factor": {"method": method.value if method else None, "enrolled": user.two_factor_enrolled},
        "created_at": iso(user.created_at),
    }


def domain_view(domain: Domain) -> dict[str, Any]:
    return {
        "domain": domain.name,
        "plan": domain.plan.value,
        "billing": domain.billing.value,
        "seats": {"used": domain.seats_used, "total": domain.seats_total},
        "hipaa": domain.hipaa,
        "retention_days": domain.retention_days,
        "status": domain.status.value,
        "created_at": iso(domain.created_at),
    }


def group_summary(group: Group) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "default": group.is_default}


def admin_group_view(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "default": group.is_default,
        "created_by": group.created_by,
        "created_at": iso(group.created_at),
    }


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "details": entry.details,
    }


def login_view(result: SignIn) -> dict[str, Any]:
    """The answer of a sign-in (login, accepted invitation): a token, or the second step."""
    if isinstance(result, IssuedChallenge):
        return {"status": "2fa_required", "challenge": challenge_view(result)}
    return {
        "status": "ok",
        "token": result.token,
        "expires_at": iso(result.session.expires_at),
        "user": user_view(result.user, result.domain.security),
    }


def challenge_view(challenge: IssuedChallenge) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": challenge.challenge_id,
        "method": challenge.method,
        "enroll": challenge.enroll,
        "expires_at": iso(challenge.expires_at),
    }
    if challenge.otpauth_uri:
        view.update(otpauth_uri=challenge.otpauth_uri, qr_svg=challenge.qr_svg)
    if challenge.sent_to:
        view["sent_to"] = challenge.sent_to
    return view


def challenge_passed_view(passed: ChallengePassed) -> dict[str, Any]:
    view = {
        **login_view(passed.login),
        "trusted_token": passed.trusted_token,
        "trusted_until": iso(passed.trusted_until) if passed.trusted_until else None,
    }
    if passed.recovery_codes is not None:
        view["recovery_codes"] = passed.recovery_codes
    if passed.recovery_codes_left is not None:
        view["recovery_codes_left"] = passed.recovery_codes_left
    return view


def security_view(policy: SecurityPolicy) -> dict[str, Any]:
    return {"two_factor": policy.method.value, "validity_days": policy.validity_days}


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "progress": {"done": job.done, "total": job.total},
        "result": job.result,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def device_view(device: Device) -> dict[str, Any]:
    return {
        "id": device_admin_id(device),
        "device_id": device.device_id,
        "user": {"id": device.user_id, "name": device.user_name, "email": device.user_email},
        "type": device.info.type,
        "name": device.info.name,
        "os_version": device.info.os_version,
        "app_version": device.info.app_version,
        "last_activity": iso(device.last_activity) if device.last_activity else None,
        "status": device.status.value,
    }


def heartbeat_view(device: Device) -> dict[str, Any]:
    return {"status": device.status.value, "action": action_for(device)}


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


# --- groups, messages, chats, files (issue 4) ---------------------------------------------


def group_view(group: Group, membership: Membership | None) -> dict[str, Any]:
    """A group as a member (or a domain admin) sees it; `my_role` is null for a domain admin
    who is not a member."""
    return {**admin_group_view(group), "my_role": membership.role.value if membership else None}


def member_view(membership: Membership, user: User) -> dict[str, Any]:
    return {
        "group_id": membership.group_id,
        "user": {"id": user.id, "name": user.name, "email": user.email},
        "role": membership.role.value,
        "joined_at": iso(membership.joined_at),
    }


def chat_summary_view(chat: ChatSummary) -> dict[str, Any]:
    """One of the caller's private chats (`GET /chats`)."""
    return {
        "user": {"id": chat.user.id, "name": chat.user.name, "email": chat.user.email},
        "last_message_at": iso(chat.last_message_at),
    }


def file_view(file: File) -> dict[str, Any]:
    return {"id": file.id, "filename": file.filename, "content_type": file.content_type, "size": file.size}


def message_view(message: Message, authors: dict[str, User], files: dict[str, File]) -> dict[str, Any]:
    author = authors.get(message.author_id)
    name = message.via.display_name if message.via else author.name if author else None
    view = {
        "id": message.id,
        "author": {"id": message.author_id, "name": name},
        "text": message.text,
        "files": [file_view(files[f]) for f in message.file_ids if f in files],
        "created_at": iso(message.created_at),
    }
    if message.via is not None:
        view["via"] = {"service": message.via.service, "name": message.via.name}
    return view


def messages_page(messages: Messages) -> dict[str, Any]:
    items = [message_view(m, messages.authors, messages.files) for m in messages.items]
    return page(items, messages.next_cursor)


def posted_message_view(messages: Messages) -> dict[str, Any]:
    (message,) = messages.items
    return message_view(message, messages.authors, messages.files)


def presigned_upload_view(
    resource: str,
    resource_id: str,
    url: str,
    expires_at: datetime,
    *,
    content_type: str,
    size: int | None,
    tagging: str | None = None,
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every presigned upload, whatever the resource (API.md §0): `{<resource>_id, upload_url,
    method: "PUT", headers, expires_at}` and the route's own extras. The client sends exactly
    `headers` with the bytes: they are the headers the URL signs besides Host, which our
    presigned PUTs (repositories' `presign_put`) make Content-Type and, when the size is
    declared, Content-Length (S3 refuses an upload of another type or size)."""
    headers = {"Content-Type": content_type}
    if size is not None:
        headers["Content-Length"] = str(size)
    if tagging:  # the object's tags (HIPAA retention, a file's pending tag): S3's lifecycle reads them
        headers["x-amz-tagging"] = tagging
    return {
        f"{resource}_id": resource_id,
        "upload_url": url,
        "method": "PUT",
        "headers": headers,
        "expires_at": iso(expires_at),
        **(extras or {}),
    }


def download_view(ticket: DownloadTicket) -> dict[str, Any]:
    return {"download_url": ticket.url, "expires_at": iso(ticket.expires_at), "file": file_view(ticket.file)}


def import_view(record: ImportRecord) -> dict[str, Any]:
    """An import; a drop refused at intake shows its metadata as given (`options`, text) and
    its `mode` as given, not the defaults a refused value fell back to."""
    given = record.given_options
    return {
        "id": record.id,
        "status": record.status,
        "mode": (given or {}).get("mode") or record.mode,
        "options": given,
        "send_invites": record.send_invites,
        "dry_run": record.dry_run,
        "source": record.source,
        "file": record.s3_key,
        "requested_by": record.requested_by,
        "counts": record.counts,
        "error": record.error,
        "invited": record.invited,
        "created_at": iso(record.created_at),
        "finished_at": iso(record.finished_at) if record.finished_at else None,
    }


# --- integrations (issue 15) ----------------------------------------------------------------------


def service_view(state: ServiceState) -> dict[str, Any]:
    return {"service": state.service.value, "enabled": state.enabled, "groups": state.groups}


def slack_integration_view(integration: Integration, authorize_url: str | None) -> dict[str, Any]:
    """A group's Slack integration as its admins see it. `webhook_url` is the same for the
    integration's life; `authorize_url` is a fresh one each time (its `state` is good once, for
    30 minutes), to authorize at first or again after an error."""
    return {
        "id": integration.id,
        "service": integration.service.value,
        "status": integration.status.value,
        "display_name": integration.display_name,
        "webhook_url": hook_url(integration),
        "authorize_url": authorize_url,
        "team_id": integration.team_id,
        "team_name": integration.team_name,
        "channel_id": integration.channel_id,
        "channel_name": integration.channel_name,
        "error": integration.error,
        "created_at": iso(integration.created_at),
        "updated_at": iso(integration.updated_at),
    }


def mailchimp_integration_view(integration: Integration, authorize_url: str | None) -> dict[str, Any]:
    """A group's MailChimp integration as its admins see it: the audiences it follows and the
    events it hears (its webhook URL is ours to give MailChimp, never shown)."""
    return {
        "id": integration.id,
        "service": integration.service.value,
        "status": integration.status.value,
        "display_name": integration.display_name,
        "authorize_url": authorize_url,
        "account_name": integration.account_name,
        "lists": [{"id": h.list_id, "name": h.name} for h in integration.lists],
        "events": list(integration.events),
        "error": integration.error,
        "created_at": iso(integration.created_at),
        "updated_at": iso(integration.updated_at),
    }


def list_outcome_view(outcome: ListOutcome) -> dict[str, Any]:
    return {
        "list_id": outcome.list_id,
        "name": outcome.name,
        "outcome": outcome.outcome,
        "error": outcome.error,
    }


def audience_view(audience: Audience) -> dict[str, Any]:
    return {"id": audience.id, "name": audience.name, "member_count": audience.member_count}


def report_view(report: Report) -> dict[str, Any]:
    """A problem report as its reporter follows it."""
    return {
        "id": report.id,
        "status": report.status.value,
        "description": report.description,
        "platform": report.platform.value,
        "app_version": report.app_version,
        "reporting_level": report.reporting_level.value,
        "logs": {"size": report.logs_size} if report.logs_size is not None else None,
        "rejected_reason": report.rejected_reason,
        "created_at": iso(report.created_at),
        "updated_at": iso(report.updated_at),
    }
