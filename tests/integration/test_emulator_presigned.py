"""localdev/presigned.py checks a presigned S3 request as S3 does, and localdev/emulator.py's
patch_presigned_urls makes moto server answer with it: URLs presigned by boto3 (configured as
chalicelib/core/aws.py configures the app's S3 client) for the credentials `make run` uses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config

from localdev import emulator
from localdev.presigned import Refusal, check_presigned, local_credentials

ENDPOINT = "http://127.0.0.1:4566"
HOST = "127.0.0.1:4566"
CREDENTIALS = {"testing": "testing"}
TAGGING = "retention=hipaa-7d"


def s3_client(
    endpoint: str = ENDPOINT, secret: str = "testing", addressing: Literal["auto", "virtual", "path"] = "auto"
) -> Any:
    """As chalicelib/core/aws.py makes the app's S3 client (SigV4 presigning), for these keys."""
    config = Config(signature_version="s3v4", s3={"addressing_style": addressing})
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key=secret, region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint, config=config)


def presigned_put(client: Any = None, key: str = "files/acme/f1/numbers.txt", expires: int = 900) -> str:
    """As ObjectStore.presign_put presigns a HIPAA domain's upload: type, size and tagging."""
    params = {
        "Bucket": "office-chat-files",
        "Key": key,
        "ContentType": "text/plain",
        "ContentLength": 18,
        "Tagging": TAGGING,
    }
    url: str = (client or s3_client()).generate_presigned_url("put_object", Params=params, ExpiresIn=expires)
    return url


ANSWERED = {"Content-Type": "text/plain", "Content-Length": "18", "x-amz-tagging": TAGGING}


def error_of(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 - the emulator's own answer, in a test


def check(
    url: str, headers: dict[str, str], method: str = "PUT", now: datetime | None = None
) -> Refusal | None:
    return check_presigned(method, url, {"Host": urlsplit(url).netloc, **headers}, CREDENTIALS, now)


def test_the_answered_headers_pass() -> None:
    url = presigned_put()
    assert set(parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"][0].split(";")) == {
        "content-length",
        "content-type",
        "host",
        "x-amz-tagging",
    }
    assert check(url, ANSWERED) is None
    assert check(url, {k.lower(): v for k, v in ANSWERED.items()}) is None  # header names: any case


@pytest.mark.parametrize(
    "changed",
    [
        {"Content-Type": "image/png"},
        {"Content-Length": "19"},
        {"x-amz-tagging": "retention=none"},
        {"Host": "localhost:4566"},
    ],
)
def test_another_value_of_a_signed_header_does_not_match(changed: dict[str, str]) -> None:
    url = presigned_put()
    refusal = check_presigned("PUT", url, {"Host": HOST, **ANSWERED, **changed}, CREDENTIALS)
    assert refusal is not None and (refusal.status, refusal.code) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("missing", ["x-amz-tagging", "Content-Type", "Content-Length"])
def test_a_signed_header_missing_does_not_match(missing: str) -> None:
    url = presigned_put()
    refusal = check(url, {k: v for k, v in ANSWERED.items() if k != missing})
    assert refusal is not None and (refusal.status, refusal.code) == (403, "SignatureDoesNotMatch")


def test_a_mismatch_answers_s3s_xml_error() -> None:
    url = presigned_put()
    refusal = check(url, {**ANSWERED, "Content-Type": "image/png"})
    assert refusal is not None
    status, headers, body = refusal.response()
    error = error_of(body)
    assert status == 403 and headers["content-type"] == "application/xml"
    assert error.tag == "Error" and error.findtext("Code") == "SignatureDoesNotMatch"
    assert (error.findtext("Message") or "").startswith("The request signature we calculated does not match")
    assert error.findtext("AWSAccessKeyId") == "testing"
    assert error.findtext("SignatureProvided") == parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    assert "content-type:image/png" in (error.findtext("CanonicalRequest") or "")
    assert error.findtext("RequestId") == headers["x-amz-request-id"]


def test_an_expired_url_is_refused() -> None:
    url = presigned_put(expires=900)
    signed_at = datetime.strptime(parse_qs(urlsplit(url).query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
    signed_at = signed_at.replace(tzinfo=UTC)
    assert check(url, ANSWERED, now=signed_at + timedelta(seconds=900)) is None  # its last second
    refusal = check(url, ANSWERED, now=signed_at + timedelta(seconds=901))
    assert refusal is not None and (refusal.status, refusal.code) == (403, "AccessDenied")
    error = error_of(refusal.body("R1"))
    assert error.findtext("Message") == "Request has expired"
    assert error.findtext("X-Amz-Expires") == "900"
    assert error.findtext("Expires") == (signed_at + timedelta(seconds=900)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_tampered_query_does_not_match() -> None:
    url = presigned_put(expires=900)
    longer = url.replace("X-Amz-Expires=900", "X-Amz-Expires=3600")
    refusal = check(longer, ANSWERED)
    assert refusal is not None and refusal.code == "SignatureDoesNotMatch"
    other_key = url.replace("/numbers.txt?", "/other.txt?")
    refusal = check(other_key, ANSWERED)
    assert refusal is not None and refusal.code == "SignatureDoesNotMatch"
    refusal = check(url, ANSWERED, method="POST")
    assert refusal is not None and refusal.code == "SignatureDoesNotMatch"


def test_another_secret_key_does_not_match_and_an_unknown_access_key_is_refused() -> None:
    assert check(presigned_put(s3_client(secret="another")), ANSWERED) is not None
    url = presigned_put().replace("X-Amz-Credential=testing", "X-Amz-Credential=AKIAOTHER")
    refusal = check(url, ANSWERED)
    assert refusal is not None and (refusal.status, refusal.code) == (403, "InvalidAccessKeyId")


def test_an_unsigned_amz_header_is_refused() -> None:
    url = presigned_put()
    refusal = check(url, {**ANSWERED, "x-amz-acl": "public-read"})
    assert refusal is not None and (refusal.status, refusal.code) == (403, "AccessDenied")
    assert error_of(refusal.body("R1")).findtext("HeadersNotSigned") == "x-amz-acl"
    untagged = s3_client().generate_presigned_url(
        "put_object", Params={"Bucket": "office-chat-files", "Key": "k", "ContentType": "text/plain"}
    )
    refusal = check(untagged, {"Content-Type": "text/plain", "x-amz-tagging": TAGGING})
    assert refusal is not None and refusal.code == "AccessDenied"  # a tag the URL did not sign


def test_a_request_that_is_not_presigned_is_not_checked() -> None:
    assert check(f"{ENDPOINT}/office-chat-files/files/acme/f1/numbers.txt", {}) is None
    assert check(f"{ENDPOINT}/office-chat-files?list-type=2&prefix=files%2F", {}, method="GET") is None
    # A header-signed SDK call: Authorization header, no X-Amz-Signature in the query.
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request"}
    assert check(f"{ENDPOINT}/office-chat-files/k", headers) is None


def test_missing_or_malformed_parameters_answer_400() -> None:
    url = presigned_put()
    without_date = "&".join(p for p in url.split("&") if not p.startswith("X-Amz-Date="))
    refusal = check(without_date, ANSWERED)
    assert refusal is not None and (refusal.status, refusal.code) == (
        400,
        "AuthorizationQueryParametersError",
    )
    too_long = presigned_put(expires=604_801)
    refusal = check(too_long, ANSWERED)
    assert refusal is not None and refusal.status == 400 and "less than a week" in refusal.message


def test_virtual_host_style_urls_are_checked_on_their_host() -> None:
    client = s3_client("http://localhost:4566", addressing="virtual")
    url = presigned_put(client)
    assert urlsplit(url).netloc == "office-chat-files.localhost:4566"
    assert check(url, ANSWERED) is None
    refusal = check_presigned("PUT", url, {"Host": "localhost:4566", **ANSWERED}, CREDENTIALS)
    assert refusal is not None and refusal.code == "SignatureDoesNotMatch"


def test_a_key_the_client_encodes_otherwise_still_matches() -> None:
    """SigV4 canonicalises the path and the query from their decoded values: a client that sends
    `(` where boto3 wrote `%28` (or `%7E` for `~`) sends the same request."""
    url = presigned_put(key="files/acme/f1/a b(1)~.txt")
    assert "a%20b%281%29~.txt" in url
    assert check(url, ANSWERED) is None
    assert check(url.replace("%28", "(").replace("%29", ")").replace("~", "%7E"), ANSWERED) is None
    assert check(url.replace("%20", "%2520"), ANSWERED) is not None  # another key


def test_a_presigned_get_with_response_overrides_passes() -> None:
    """As ObjectStore.presign_get signs a download (host only, a content disposition)."""
    disposition = f"attachment; filename*=UTF-8''{quote('numbers ü.txt', safe='')}"
    url = s3_client().generate_presigned_url(
        "get_object",
        Params={"Bucket": "office-chat-files", "Key": "k", "ResponseContentDisposition": disposition},
        ExpiresIn=900,
    )
    assert check(url, {}, method="GET") is None
    assert check(url, {"Range": "bytes=0-3", "Accept": "*/*"}, method="GET") is None  # unsigned, not x-amz-*
    assert check(url, {}, method="HEAD") is not None  # signed for GET


def test_local_credentials_are_those_make_run_gives_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    assert local_credentials() == {"testing": "testing"}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert local_credentials() == {"AKIAEXAMPLE": "secret"}


# --- through moto server (patch_presigned_urls) -----------------------------------------------------


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto server in this process, with patch_presigned_urls (undone on leaving), and the bucket."""
    from moto.server import ThreadedMotoServer

    emulator.patch_presigned_urls(monkeypatch.setattr, CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()  # moto's state is global
    s3_client(endpoint).create_bucket(Bucket="office-chat-files")
    try:
        yield endpoint
    finally:
        server.stop()


def test_moto_server_takes_the_answered_headers_and_stores_the_tag(moto_server: str) -> None:
    client = s3_client(moto_server)
    body = b"Quarterly numbers\n"
    put = requests.put(presigned_put(client), data=body, headers=ANSWERED, timeout=10)
    assert put.status_code == 200, put.text
    stored = client.get_object(Bucket="office-chat-files", Key="files/acme/f1/numbers.txt")
    assert stored["Body"].read() == body and stored["ContentType"] == "text/plain"
    tags = client.get_object_tagging(Bucket="office-chat-files", Key="files/acme/f1/numbers.txt")["TagSet"]
    assert tags == [{"Key": "retention", "Value": "hipaa-7d"}]
    download = client.generate_presigned_url(
        "get_object", Params={"Bucket": "office-chat-files", "Key": "files/acme/f1/numbers.txt"}
    )
    assert requests.get(download, timeout=10).content == body


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({k: v for k, v in ANSWERED.items() if k != "x-amz-tagging"}, "SignatureDoesNotMatch"),
        ({**ANSWERED, "Content-Type": "application/octet-stream"}, "SignatureDoesNotMatch"),
        ({**ANSWERED, "x-amz-acl": "public-read"}, "AccessDenied"),
    ],
)
def test_moto_server_refuses_other_headers_and_stores_nothing(
    moto_server: str, headers: dict[str, str], code: str
) -> None:
    client = s3_client(moto_server)
    put = requests.put(presigned_put(client), data=b"Quarterly numbers\n", headers=headers, timeout=10)
    assert put.status_code == 403
    assert error_of(put.content).findtext("Code") == code
    assert "Contents" not in client.list_objects_v2(Bucket="office-chat-files")


def test_moto_server_refuses_an_expired_url(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    an_hour_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: an_hour_ago)
    url = presigned_put(s3_client(moto_server), expires=900)  # expired 45 minutes ago
    put = requests.put(url, data=b"Quarterly numbers\n", headers=ANSWERED, timeout=10)
    assert put.status_code == 403, put.text
    error = error_of(put.content)
    assert (error.findtext("Code"), error.findtext("Message")) == ("AccessDenied", "Request has expired")


def test_moto_server_answers_unsigned_sdk_calls_as_before(moto_server: str) -> None:
    client = s3_client(moto_server, secret="whatever")  # moto checks no header signature: nor do we
    client.put_object(Bucket="office-chat-files", Key="k", Body=b"x", Tagging=TAGGING)
    assert client.get_object(Bucket="office-chat-files", Key="k")["Body"].read() == b"x"


def test_moto_server_checks_virtual_host_style_on_the_host_sent(moto_server: str) -> None:
    port = urlsplit(moto_server).port
    client = s3_client(f"http://localhost:{port}", addressing="virtual")
    url = presigned_put(client)
    host = urlsplit(url).netloc
    assert host == f"office-chat-files.localhost:{port}"
    local = url.replace(host, f"127.0.0.1:{port}", 1)  # *.localhost may not resolve here: send Host
    put = requests.put(local, data=b"Quarterly numbers\n", headers={**ANSWERED, "Host": host}, timeout=10)
    assert put.status_code == 200, put.text
    tags = s3_client(moto_server).get_object_tagging(
        Bucket="office-chat-files", Key="files/acme/f1/numbers.txt"
    )
    assert tags["TagSet"] == [{"Key": "retention", "Value": "hipaa-7d"}]
    put = requests.put(local, data=b"Quarterly numbers\n", headers=ANSWERED, timeout=10)  # Host: 127.0.0.1
    assert put.status_code == 403 and error_of(put.content).findtext("Code") == "SignatureDoesNotMatch"
