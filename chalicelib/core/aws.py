"""The one place boto3 clients come from: created on first use, cached, endpoint from settings.

boto3 is imported inside the factory, so `import app` stays cheap (a cold start that serves a
request needing no AWS call never pays for botocore's loaders), and moto's in-process mock can
start before any client exists.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from chalicelib.core.config import get_settings
from chalicelib.core.log import count_aws_call

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = ("ssm:GetParameter",)

_clients: dict[str, Any] = {}
_lock = threading.Lock()
_shared: dict[str, Any] = {}  # botocore's data loader, shared by every client (_botocore_session)


def client(service: str) -> Any:
    cached = _clients.get(service)
    if cached is not None:
        return cached
    with _lock:
        if service not in _clients:
            _clients[service] = _create(service)
        return _clients[service]


def _create(service: str) -> Any:
    import boto3
    from botocore.config import Config

    settings = get_settings()
    config = Config(
        retries={"max_attempts": 4, "mode": "standard"},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=32,
    )
    if service == "s3":
        # SigV4 for presigned URLs too (botocore still presigns SigV2 in us-east-1, which cannot
        # sign Content-Length): a presigned PUT then binds the declared size and content type.
        config = config.merge(Config(signature_version="s3v4"))
    created = boto3.session.Session(botocore_session=_botocore_session()).client(
        service,  # type: ignore[call-overload]
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )
    # Every call is counted into the summary line of the request or event that makes it.
    created.meta.events.register("before-call", count_aws_call, unique_id="oc-count-aws-call")
    return created


def _botocore_session() -> Any:
    """A botocore session of its own for each client (clients stay independent), all sharing
    one data loader: botocore's JSON models (endpoints, the service's API, retries) are read and
    parsed once a process, not once a client."""
    import botocore.session

    session = botocore.session.get_session()
    loader = _shared.setdefault("data_loader", session.get_component("data_loader"))
    session.register_component("data_loader", loader)
    return session


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def s3() -> S3Client:
    return client("s3")  # type: ignore[no-any-return]


def ses() -> SESClient:
    return client("ses")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return client("sqs")  # type: ignore[no-any-return]


def kms() -> KMSClient:
    return client("kms")  # type: ignore[no-any-return]


def ssm() -> SSMClient:
    return client("ssm")  # type: ignore[no-any-return]


_ssm_values: dict[str, str] = {}
_ssm_lock = threading.Lock()


def secret_setting(value: str | None, ssm_param: str | None) -> str | None:
    """A secret setting: its environment value (local runs), else the SSM SecureString that
    names it (AWS), read once per container; None when neither is configured."""
    if value:
        return value
    if not ssm_param:
        return None
    with _ssm_lock:
        if ssm_param not in _ssm_values:
            answer = client("ssm").get_parameter(Name=ssm_param, WithDecryption=True)
            _ssm_values[ssm_param] = answer["Parameter"]["Value"]
        return _ssm_values[ssm_param]


def reset_clients() -> None:
    """Drop every cached client (tests start a fresh emulator or change the endpoint)."""
    with _lock:
        _clients.clear()
