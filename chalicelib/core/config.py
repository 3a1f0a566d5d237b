"""Settings, read from the environment on first use (never at import time).

Every setting is an environment variable; README.md lists them all. Lambda gets them from
.chalice/config.json, `make run` from the shell (with defaults for the local emulator).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

# Deploy-time names: Chalice reads the queue names when it packages the event source mappings,
# so they are constants here and the same names stand in infra/template.yaml.
S3_EVENTS_QUEUE = "office-chat-s3-events"
JOBS_QUEUE = "office-chat-jobs"

# The KMS key that encrypts 2FA secrets: an alias, so that a rotated or replaced key needs no
# change here; infra/template.yaml defines the key and this alias.
TWO_FACTOR_KEY_ALIAS = "alias/office-chat-two-factor"

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    aws_endpoint_url: str | None
    table_name: str
    bucket: str
    s3_events_queue: str
    jobs_queue: str
    public_url: str
    platform_key: str | None
    platform_key_ssm_param: str | None
    cursor_key: str | None
    cursor_key_ssm_param: str | None
    email_sender: str
    support_email: str
    slack_api_url: str
    slack_authorize_url: str
    slack_client_id: str | None
    slack_client_secret: str | None
    slack_client_secret_ssm_param: str | None
    slack_signing_secret: str | None
    slack_signing_secret_ssm_param: str | None
    mailchimp_login_url: str
    mailchimp_client_id: str | None
    mailchimp_client_secret: str | None
    mailchimp_client_secret_ssm_param: str | None
    log_level: str
    max_upload_bytes: int
    presign_seconds: int
    inline_job_users: int
    delete_step_items: int
    kms_key_id: str
    max_import_bytes: int
    import_chunk_rows: int
    import_step_seconds: int


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _optional_env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        stage=_env("OC_STAGE", "dev"),
        region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "us-east-1")),
        aws_endpoint_url=_optional_env("OC_AWS_ENDPOINT_URL"),
        table_name=_env("OC_TABLE", "office-chat-main"),
        bucket=_env("OC_BUCKET", "office-chat-files"),
        s3_events_queue=_env("OC_S3_EVENTS_QUEUE", S3_EVENTS_QUEUE),
        jobs_queue=_env("OC_JOBS_QUEUE", JOBS_QUEUE),
        public_url=_env("OC_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
        platform_key=_optional_env("OC_PLATFORM_KEY"),
        platform_key_ssm_param=_optional_env("OC_PLATFORM_KEY_SSM_PARAM"),
        cursor_key=_optional_env("OC_CURSOR_KEY"),
        cursor_key_ssm_param=_optional_env("OC_CURSOR_KEY_SSM_PARAM"),
        email_sender=_env("OC_EMAIL_SENDER", "no-reply@office-chat.local"),
        support_email=_env("SUPPORT_EMAIL", "support@office-chat.local"),
        slack_api_url=_env("SLACK_API_URL", "https://slack.com/api").rstrip("/"),
        slack_authorize_url=_env("SLACK_AUTHORIZE_URL", "https://slack.com/oauth/v2/authorize"),
        slack_client_id=_optional_env("SLACK_CLIENT_ID"),
        slack_client_secret=_optional_env("SLACK_CLIENT_SECRET"),
        slack_client_secret_ssm_param=_optional_env("SLACK_CLIENT_SECRET_SSM_PARAM"),
        slack_signing_secret=_optional_env("SLACK_SIGNING_SECRET"),
        slack_signing_secret_ssm_param=_optional_env("SLACK_SIGNING_SECRET_SSM_PARAM"),
        mailchimp_login_url=_env("MAILCHIMP_LOGIN_URL", "https://login.mailchimp.com").rstrip("/"),
        mailchimp_client_id=_optional_env("MAILCHIMP_CLIENT_ID"),
        mailchimp_client_secret=_optional_env("MAILCHIMP_CLIENT_SECRET"),
        mailchimp_client_secret_ssm_param=_optional_env("MAILCHIMP_CLIENT_SECRET_SSM_PARAM"),
        log_level=_env("OC_LOG_LEVEL", "INFO"),
        max_upload_bytes=int(_env("OC_MAX_UPLOAD_BYTES", str(100 * 1024 * 1024))),
        presign_seconds=int(_env("OC_PRESIGN_SECONDS", "900")),
        inline_job_users=int(_env("OC_INLINE_JOB_USERS", "200")),
        delete_step_items=int(_env("OC_DELETE_STEP_ITEMS", "20000")),
        kms_key_id=_env("OC_KMS_KEY_ID", TWO_FACTOR_KEY_ALIAS),
        max_import_bytes=int(_env("OC_MAX_IMPORT_BYTES", str(200 * 1024 * 1024))),
        import_chunk_rows=int(_env("OC_IMPORT_CHUNK_ROWS", "500")),
        import_step_seconds=int(_env("OC_IMPORT_STEP_SECONDS", "600")),
    )


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
