"""End to end against `make run`'s runner, over HTTP: its emulator checks presigned S3 URLs as S3
does (localdev/emulator.py patch_presigned_urls). A HIPAA domain's upload URL signs its type,
size and `x-amz-tagging`: a PUT with exactly the answered `headers` is stored with the tag; one
without the tag, or of another Content-Type, is refused 403 and stores nothing."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.conftest import PLATFORM_KEY, Runner

pytestmark = pytest.mark.e2e

BUCKET = "office-chat-files"
BODY = b"Quarterly numbers\n"


def _hipaa_admin(runner: Runner) -> dict[str, str]:
    """A new HIPAA domain's admin's Authorization header."""
    domain = f"e2e-hipaa-{uuid.uuid4().hex[:8]}"
    admin = {
        "email": f"ada@{domain}.example",
        "first_name": "Ada",
        "last_name": "Lee",
        "password": "an e2e hipaa passphrase",
    }
    body = {
        "domain": domain,
        "plan": "enterprise",
        "billing": "annual",
        "seats": 50,
        "hipaa": True,
        "admin": admin,
    }
    created = requests.post(
        f"{runner.url}/platform/domains", json=body, headers={"X-Platform-Key": PLATFORM_KEY}, timeout=10
    )
    assert created.status_code == 201, created.text
    login = {"domain": domain, "email": admin["email"], "password": admin["password"], "client": "web"}
    answer = requests.post(f"{runner.url}/auth/login", json=login, timeout=10)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _s3(runner: Runner) -> Any:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("s3", endpoint_url=f"http://127.0.0.1:{runner.aws_port}")


def _stored(runner: Runner, key: str) -> bool:
    try:
        _s3(runner).head_object(Bucket=BUCKET, Key=key)
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("404", "NoSuchKey"), error.response
        return False
    return True


def _refused(put: requests.Response) -> str:
    """The S3 error code of a refused PUT (403, S3's XML error)."""
    assert put.status_code == 403, (put.status_code, put.text)
    error = ET.fromstring(put.content)  # noqa: S314 - the emulator's own answer, in a test
    assert error.tag == "Error", put.text
    return str(error.findtext("Code"))


def test_a_hipaa_upload_needs_exactly_the_answered_headers(runner: Runner) -> None:
    admin = _hipaa_admin(runner)
    created = requests.post(
        f"{runner.url}/files",
        headers=admin,
        json={"filename": "numbers.txt", "content_type": "text/plain", "size": len(BODY)},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    headers: dict[str, str] = ticket["headers"]
    assert headers["Content-Type"] == "text/plain" and headers["Content-Length"] == str(len(BODY))
    tags = dict(parse_qsl(headers["x-amz-tagging"]))
    assert tags["retention"] == "hipaa-7d"
    url = ticket["upload_url"]
    key = url.split("?")[0].split(f"/{BUCKET}/", 1)[1]

    untagged = {name: value for name, value in headers.items() if name != "x-amz-tagging"}
    assert _refused(requests.put(url, data=BODY, headers=untagged, timeout=10)) == "SignatureDoesNotMatch"
    other_type = {**headers, "Content-Type": "application/octet-stream"}
    assert _refused(requests.put(url, data=BODY, headers=other_type, timeout=10)) == "SignatureDoesNotMatch"
    other_tag = {**headers, "x-amz-tagging": "retention=forever"}
    assert _refused(requests.put(url, data=BODY, headers=other_tag, timeout=10)) == "SignatureDoesNotMatch"
    assert not _stored(runner, key)

    put = requests.put(url, data=BODY, headers=headers, timeout=10)
    assert put.status_code == 200, put.text
    stored = _s3(runner).get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert {tag["Key"]: tag["Value"] for tag in stored} == tags

    download = requests.get(f"{runner.url}/files/{ticket['file_id']}", headers=admin, timeout=10)
    assert download.status_code == 200, download.text
    assert requests.get(download.json()["download_url"], timeout=10).content == BODY
    tampered = download.json()["download_url"].replace("X-Amz-Expires=", "X-Amz-Expires=1")
    assert _refused(requests.get(tampered, timeout=10)) == "SignatureDoesNotMatch"


def test_header_signed_sdk_calls_are_not_checked(runner: Runner) -> None:
    """Only presigned URLs are: SDK calls signed in their Authorization header reach moto as
    before (it checks none of them), their x-amz-tagging stored."""
    s3 = _s3(runner)
    s3.put_object(Bucket=BUCKET, Key="e2e/presigned/plain.txt", Body=BODY, Tagging="a=b")
    assert s3.get_object(Bucket=BUCKET, Key="e2e/presigned/plain.txt")["Body"].read() == BODY
    assert s3.get_object_tagging(Bucket=BUCKET, Key="e2e/presigned/plain.txt")["TagSet"] == [
        {"Key": "a", "Value": "b"}
    ]
