"""Problem reports (API.md §8): what a user reports, and the rules its logs must meet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ReportPlatform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WINDOWS = "windows"
    MAC = "mac"
    WEB = "web"


class ReportingLevel(StrEnum):
    NONE = "none"
    ERRORS = "errors"
    ALL = "all"


class ReportStatus(StrEnum):
    AWAITING_LOGS = "awaiting_logs"  # created; its zip not uploaded (nor the report sent without)
    RECEIVED = "received"  # the logs landed: support and the user were emailed
    SUBMITTED = "submitted"  # sent without logs
    REJECTED = "rejected"  # the upload was not a zip, or too large: support was told


MAX_LOGS_BYTES = 25 * 1024 * 1024
MAX_DESCRIPTION = 5000
MAX_APP_VERSION = 50
REPORTS_PER_HOUR = 10  # by one user
LOGS_LINK_SECONDS = 7 * 24 * 3600  # what SigV4 allows a presigned URL at most
LOGS_CONTENT_TYPE = "application/zip"
# A zip starts with a local file header, or is an empty archive (end of central directory), or a
# spanned one: https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT (4.3.7, 4.3.16, 8.5.3)
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


@dataclass(frozen=True)
class Report:
    id: str
    domain: str
    user_id: str
    user_email: str
    user_name: str
    description: str
    platform: ReportPlatform
    app_version: str
    reporting_level: ReportingLevel
    status: ReportStatus
    created_at: datetime
    updated_at: datetime
    logs_key: str  # reports/<domain>/<report id>/logs.zip
    logs_size: int | None = None
    rejected_reason: str | None = None
    notified: bool = False  # support and the user were emailed (the upload's event came once)


def logs_key(domain: str, report_id: str) -> str:
    return f"reports/{domain}/{report_id}/logs.zip"


def parse_logs_key(key: str) -> tuple[str, str] | None:
    """(domain, report id) of a report's logs key; None for any other key under reports/."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "reports" or parts[3] != "logs.zip" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def logs_refusal(size: int, head: bytes) -> str | None:
    """Why an upload is not a report's logs (None: it is): over the limit, or not a zip."""
    if size > MAX_LOGS_BYTES:
        return f"the file is {size} bytes, over the {MAX_LOGS_BYTES // (1024 * 1024)} MB limit"
    if not head.startswith(ZIP_SIGNATURES):
        return "the file is not a zip archive"
    return None
