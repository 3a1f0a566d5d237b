"""§8 Reporting a problem: a user describes it and uploads the app's logs (a zip) to a presigned
URL; when the zip lands, support gets the report with a link to the logs and the user a
confirmation. A report can also be sent without logs.

The upload's S3 event may come twice (S3 and SQS deliver at least once): the report's status
moves from `awaiting_logs` once, under a condition, and the delivery that moved it sends the
emails (with a 60-second lease, so that a delivery that died after moving it is taken over by
SQS's retry, and a second copy of the event arriving meanwhile does nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import Settings, get_settings
from chalicelib.core.errors import Conflict, NotFound, TooManyRequests
from chalicelib.core.log import get_logger
from chalicelib.domain.models import Principal
from chalicelib.domain.reports import (
    LOGS_CONTENT_TYPE,
    LOGS_LINK_SECONDS,
    REPORTS_PER_HOUR,
    Report,
    ReportingLevel,
    ReportPlatform,
    ReportStatus,
    logs_key,
    logs_refusal,
    parse_logs_key,
)
from chalicelib.domain.s3_object import S3Object
from chalicelib.notifications.email import Email, EmailSender
from chalicelib.repositories.dynamo import ConditionFailed, Table
from chalicelib.repositories.files import ObjectStore
from chalicelib.repositories.reports import ReportRepository
from chalicelib.services.transaction import Transaction

log = get_logger(__name__)

LEASE_SECONDS = 60


@dataclass(frozen=True)
class NewReport:
    description: str
    platform: ReportPlatform
    app_version: str
    reporting_level: ReportingLevel


@dataclass(frozen=True)
class ReportUpload:
    report: Report
    url: str
    expires_at: datetime
    tagging: str | None  # a HIPAA domain's objects carry the retention tag from their upload


def report_not_found() -> NotFound:
    return NotFound("There is no such report of yours.", "report_not_found")


class ReportService:
    def __init__(
        self,
        table: Table,
        reports: ReportRepository,
        store: ObjectStore,
        sender: EmailSender,
        clock: Clock,
        settings: Callable[[], Settings] = get_settings,
    ) -> None:
        self._table = table
        self._reports = reports
        self._store = store
        self._sender = sender
        self._clock = clock
        self._settings = settings

    def create(self, principal: Principal, read: Callable[[], NewReport]) -> ReportUpload:
        """A report awaiting its logs, and where to upload them (a zip of at most 25 MB; a larger
        or other file is rejected when it lands). More than 10 a user an hour: 429."""
        new = read()
        now = self._clock.now()
        report_id = ids.new_id()
        user = principal.user
        report = Report(
            id=report_id,
            domain=principal.domain,
            user_id=user.id,
            user_email=user.email,
            user_name=user.name,
            description=new.description,
            platform=new.platform,
            app_version=new.app_version,
            reporting_level=new.reporting_level,
            status=ReportStatus.AWAITING_LOGS,
            created_at=now,
            updated_at=now,
            logs_key=logs_key(principal.domain, report_id),
        )
        tx = Transaction(self._table)
        tx.add(
            self._reports.count_op(principal.domain, user.id, now, REPORTS_PER_HOUR),
            on_condition_failed=_too_many(now),
        )
        tx.add(self._reports.create_op(report), self._reports.register_op(report))
        tx.commit()
        seconds = self._settings().presign_seconds
        tagging = principal.retention.object_tagging
        url = self._store.presign_put(report.logs_key, LOGS_CONTENT_TYPE, None, seconds, tagging)
        return ReportUpload(report, url, now + timedelta(seconds=seconds), tagging)

    def get(self, principal: Principal, report_id: str) -> Report:
        """The caller's own report (anyone else's, or none: 404)."""
        report = self._reports.get(principal.domain, report_id) if ids.is_id(report_id) else None
        if report is None or report.user_id != principal.user.id:
            raise report_not_found()
        return report

    def submit(self, principal: Principal, report_id: str) -> Report:
        """Sends a report without logs (once: 409 when it was sent, or its logs came)."""
        report = self.get(principal, report_id)
        if report.status is not ReportStatus.AWAITING_LOGS:
            raise _already_sent()
        sent = replace(report, status=ReportStatus.SUBMITTED, updated_at=self._clock.now(), notified=True)
        try:
            self._reports.save(sent, expected=ReportStatus.AWAITING_LOGS)
        except ConditionFailed:
            raise _already_sent() from None
        self._notify(sent)
        return sent

    # --- the upload's S3 event ----------------------------------------------------------------

    def on_object(self, s3_object: S3Object) -> None:
        """A report's logs landed. Idempotent: the report leaves `awaiting_logs` once, under a
        condition; a second delivery finds it gone (or held by a live lease) and does nothing."""
        named = parse_logs_key(s3_object.key)
        report = self._reports.get(*named) if named and ids.is_id(named[1]) else None
        if report is None:
            log.warning(
                "an object under reports/ that no report awaits; ignored",
                extra={"fields": {"key": s3_object.key}},
            )
            return
        if report.status is not ReportStatus.AWAITING_LOGS and not (
            report.status is ReportStatus.RECEIVED and not report.notified
        ):
            log.info("report logs event again; already handled", extra={"fields": {"report_id": report.id}})
            return
        head = self._store.first_bytes(report.logs_key, 4) if s3_object.size > 0 else b""
        refusal = logs_refusal(s3_object.size, head)
        if refusal is not None:
            self._reject(report, s3_object.size, refusal)
            return
        self._receive(report, s3_object.size)

    def _receive(self, report: Report, size: int) -> None:
        now = self._clock.now()
        received = replace(
            report, status=ReportStatus.RECEIVED, logs_size=size, updated_at=now, notified=False
        )
        stamp = int(now.timestamp())
        try:
            self._reports.save(
                received, expected=ReportStatus.AWAITING_LOGS, lease_until=stamp + LEASE_SECONDS, now=stamp
            )
        except ConditionFailed:
            log.info("report logs taken by another delivery", extra={"fields": {"report_id": report.id}})
            return
        self._notify(received)
        self._reports.save(replace(received, notified=True), expected=ReportStatus.RECEIVED)

    def _reject(self, report: Report, size: int, reason: str) -> None:
        rejected = replace(
            report,
            status=ReportStatus.REJECTED,
            logs_size=size,
            rejected_reason=reason,
            updated_at=self._clock.now(),
        )
        try:
            self._reports.save(rejected, expected=ReportStatus.AWAITING_LOGS)
        except ConditionFailed:
            return
        log.warning("report logs rejected", extra={"fields": {"report_id": report.id, "reason": reason}})
        self._store.delete(report.logs_key)  # kept nowhere: it is not what the report promised
        self._sender.send(self._support_email(rejected))

    # --- the emails ------------------------------------------------------------------------------

    def _notify(self, report: Report) -> None:
        self._sender.send(self._support_email(report))
        self._sender.send(self._confirmation(report))

    def _support_email(self, report: Report) -> Email:
        lines = [
            f"Report {report.id} from {report.user_name} <{report.user_email}>, domain {report.domain}.",
            "",
            f"Platform: {report.platform.value}",
            f"App version: {report.app_version}",
            f"Reporting level: {report.reporting_level.value}",
            f"Reported at: {report.created_at.strftime('%Y-%m-%d %H:%M UTC')}",
            "",
            "What happened:",
            report.description,
            "",
        ]
        if report.status is ReportStatus.RECEIVED:
            link = self._store.presign_get(report.logs_key, f"logs-{report.id}.zip", LOGS_LINK_SECONDS)
            lines += [f"Logs ({report.logs_size} bytes), for 7 days: {link}"]
            subject = f"Problem report from {report.user_email} ({report.domain}), with logs"
        elif report.status is ReportStatus.REJECTED:
            lines += [f"The uploaded logs were rejected: {report.rejected_reason}. The user was not told."]
            subject = f"Problem report from {report.user_email} ({report.domain}): logs rejected"
        else:
            lines += ["No logs were attached."]
            subject = f"Problem report from {report.user_email} ({report.domain}), without logs"
        return Email(to=self._settings().support_email, subject=subject, text="\n".join(lines))

    def _confirmation(self, report: Report) -> Email:
        what = (
            "your problem report and its logs"
            if report.status is ReportStatus.RECEIVED
            else "your problem report"
        )
        text = (
            f"Hello {report.user_name},\n\n"
            f"We received {what}. Our team will investigate and get back to you.\n\n"
            f"Report: {report.id}\n"
        )
        return Email(to=report.user_email, subject="We received your problem report", text=text)


def _too_many(now: datetime) -> TooManyRequests:
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    seconds = max(1, int((next_hour - now).total_seconds()))
    return TooManyRequests(
        f"At most {REPORTS_PER_HOUR} reports an hour; try again later.", seconds, "rate_limited"
    )


def _already_sent() -> Conflict:
    return Conflict("This report was already sent.", "report_already_sent")
