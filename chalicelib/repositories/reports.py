"""Problem reports (API.md §8): the report item, by domain and id (what an upload's key names),
and each reporter's count of reports in the current hour (the rate limit)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import iso_ms
from chalicelib.domain.reports import Report, ReportingLevel, ReportPlatform, ReportStatus
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms


class ReportRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def get(self, domain: str, report_id: str) -> Report | None:
        item = self._table.get(keys.report_pk(domain, report_id), keys.META)
        return self.from_item(item) if item else None

    def create_op(self, report: Report) -> dict[str, Any]:
        return self._table.put_op(self.to_item(report), ITEM_IS_NEW)

    def register_op(self, report: Report) -> dict[str, Any]:
        """The registry entry of the report's partition (what a domain's deletion reads)."""
        return self._table.put_op(partitions.report_entry(report.domain, report.id))

    def count_op(self, domain: str, user_id: str, now: datetime, most: int) -> dict[str, Any]:
        """One more report of the user this hour, if fewer than `most` were made (the window's
        item lives two hours, by TTL)."""
        hour = now.strftime("%Y-%m-%dT%H")
        return self._table.update_op(
            keys.user_pk(domain, user_id),
            keys.reports_window_sk(hour),
            "SET reports = if_not_exists(reports, :zero) + :one, #ttl = :ttl",
            {":zero": 0, ":one": 1, ":most": most, ":ttl": int((now + timedelta(hours=2)).timestamp())},
            condition="attribute_not_exists(reports) OR reports < :most",
            names={"#ttl": "ttl"},
        )

    def save(
        self, report: Report, expected: ReportStatus, lease_until: int | None = None, now: int = 0
    ) -> None:
        """The report, if its status is still `expected` (and, with `lease_until`, taken for
        that long: a delivery that finds it taken by one that has not finished leaves it)."""
        condition = "#status = :expected"
        values: dict[str, Any] = {":expected": expected.value}
        if lease_until is not None:
            condition = f"({condition}) OR (#status = :received AND notified = :false AND lease_until < :now)"
            values.update({":received": ReportStatus.RECEIVED.value, ":false": False, ":now": now})
        item = {**self.to_item(report), "lease_until": lease_until}
        self._table.put(item, Condition(condition, values, {"#status": "status"}))

    @staticmethod
    def to_item(report: Report) -> Item:
        return {
            "pk": keys.report_pk(report.domain, report.id),
            "sk": keys.META,
            "type": "report",
            "id": report.id,
            "domain": report.domain,
            "user_id": report.user_id,
            "user_email": report.user_email,
            "user_name": report.user_name,
            "description": report.description,
            "platform": report.platform.value,
            "app_version": report.app_version,
            "reporting_level": report.reporting_level.value,
            "status": report.status.value,
            "created_at": iso_ms(report.created_at),
            "updated_at": iso_ms(report.updated_at),
            "logs_key": report.logs_key,
            "logs_size": report.logs_size,
            "rejected_reason": report.rejected_reason,
            "notified": report.notified,
        }

    @staticmethod
    def from_item(item: Item) -> Report:
        return Report(
            id=item["id"],
            domain=item["domain"],
            user_id=item["user_id"],
            user_email=item["user_email"],
            user_name=item["user_name"],
            description=item["description"],
            platform=ReportPlatform(item["platform"]),
            app_version=item["app_version"],
            reporting_level=ReportingLevel(item["reporting_level"]),
            status=ReportStatus(item["status"]),
            created_at=parse_ms(item["created_at"]),
            updated_at=parse_ms(item["updated_at"]),
            logs_key=item["logs_key"],
            logs_size=item.get("logs_size"),
            rejected_reason=item.get("rejected_reason"),
            notified=bool(item.get("notified")),
        )
