"""S3's check of a presigned (query-string SigV4) request, for the emulator (localdev/emulator.py
patch_presigned_urls): moto server stores whatever a presigned URL is sent, S3 does not.

S3 takes a request whose query carries `X-Amz-Signature` only when (in this order here):
- the query carries every SigV4 parameter, well formed, X-Amz-Expires at most a week
  (400 AuthorizationQueryParametersError);
- the access key of X-Amz-Credential is known (403 InvalidAccessKeyId);
- X-Amz-Date + X-Amz-Expires has not passed (403 AccessDenied, "Request has expired");
- the URL signs Host and every `x-amz-*` header the request carries (403 AccessDenied, "There
  were headers present in the request which were not signed");
- the signature S3 computes from the request equals X-Amz-Signature: the method, the path, the
  query but the signature, and the values the request carries of the headers the URL signs
  (X-Amz-SignedHeaders: host, content-type, content-length, x-amz-tagging...). A signed header
  missing from the request, or of another value, changes it (403 SignatureDoesNotMatch).
The signature is recomputed by botocore's own presigning signer (S3SigV4QueryAuth) with the
secret key of the access key, the path and the query canonicalised as SigV4 does (decoded, then
percent-encoded alike), so that a client's own encoding of the URL does not matter, as in S3.
Requests without X-Amz-Signature (header-signed SDK calls, which moto does not check either)
pass unchecked.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

ALGORITHM = "AWS4-HMAC-SHA256"
AUTH_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
MAX_EXPIRES_SECONDS = 604_800  # a week: S3's ceiling for a SigV4 presigned URL
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SERVER_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

MISSING_PARAMETERS = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
BAD_ALGORITHM = 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
BAD_CREDENTIAL = (
    "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "
    '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
BAD_DATE = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
BAD_EXPIRES = "X-Amz-Expires should be a number"
NEGATIVE_EXPIRES = "X-Amz-Expires must be non-negative"
LONG_EXPIRES = f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECONDS} seconds"
UNKNOWN_KEY = "The AWS Access Key Id you provided does not exist in our records."
EXPIRED = "Request has expired"
NOT_SIGNED = "There were headers present in the request which were not signed"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


@dataclass(frozen=True)
class Refusal:
    """S3's answer to a presigned request it refuses: a status and its XML error."""

    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def body(self, request_id: str) -> bytes:
        fields = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.details)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>{fields}"
            f"<RequestId>{request_id}</RequestId><HostId>{escape(_host_id())}</HostId></Error>"
        ).encode()

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """As moto's S3 handlers answer: (status, headers, body)."""
        request_id = secrets.token_hex(8).upper()
        headers = {"content-type": "application/xml", "x-amz-request-id": request_id}
        return self.status, headers, self.body(request_id)


def _host_id() -> str:
    return secrets.token_urlsafe(48)


def local_credentials() -> dict[str, str]:
    """The access key and secret key of `make run` (localdev/run.py set_environment gives the app
    these, and the emulator, its child, inherits them): the caller's AWS_ACCESS_KEY_ID and
    AWS_SECRET_ACCESS_KEY, else moto's dummy pair `testing`."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID") or "testing"
    return {access_key: os.environ.get("AWS_SECRET_ACCESS_KEY") or "testing"}


@dataclass(frozen=True)
class _Authorization:
    """The SigV4 parameters of a presigned URL's query, read."""

    access_key: str
    region: str
    service: str
    timestamp: str
    signed_at: datetime
    expires: int
    signed_headers: list[str]
    signature: str


def check_presigned(
    method: str,
    url: str,
    headers: Mapping[str, str],
    credentials: Mapping[str, str],
    now: datetime | None = None,
) -> Refusal | None:
    """S3's refusal of this request (None: S3 takes it, or it is not presigned). `url` is the
    request's URL as sent (path and query still percent-encoded; its host stands for a Host
    header only where `headers` carry none), `headers` its headers (any case), `credentials` the
    secret key of each access key."""
    parts = urlsplit(url)
    pairs = _query_pairs(parts.query)
    params = dict(pairs)
    if "X-Amz-Signature" not in params:
        return None
    auth = _authorization(params)
    if isinstance(auth, Refusal):
        return auth
    secret_key = credentials.get(auth.access_key)
    if secret_key is None:
        return Refusal(403, "InvalidAccessKeyId", UNKNOWN_KEY, (("AWSAccessKeyId", auth.access_key),))
    now = now or datetime.now(UTC)
    expired_at = auth.signed_at + timedelta(seconds=auth.expires)
    if now > expired_at:
        return Refusal(
            403,
            "AccessDenied",
            EXPIRED,
            (
                ("X-Amz-Expires", str(auth.expires)),
                ("Expires", expired_at.strftime(SERVER_TIME_FORMAT)),
                ("ServerTime", now.strftime(SERVER_TIME_FORMAT)),
            ),
        )
    sent = {name.lower(): value for name, value in headers.items()}
    if parts.netloc:
        sent.setdefault("host", parts.netloc)
    not_signed = sorted(
        name
        for name in sent
        if (name == "host" or name.startswith("x-amz-")) and name not in auth.signed_headers
    )
    if not_signed:
        return Refusal(403, "AccessDenied", NOT_SIGNED, (("HeadersNotSigned", ", ".join(not_signed)),))
    string_to_sign, canonical_request, signature = _signature(
        auth,
        secret_key,
        method,
        parts.path,
        [(name, value) for name, value in pairs if name != "X-Amz-Signature"],
        {name: sent[name] for name in auth.signed_headers if name in sent},
    )
    if hmac.compare_digest(signature, auth.signature):
        return None
    return Refusal(
        403,
        "SignatureDoesNotMatch",
        SIGNATURE_MISMATCH,
        (
            ("AWSAccessKeyId", auth.access_key),
            ("StringToSign", string_to_sign),
            ("SignatureProvided", auth.signature),
            ("StringToSignBytes", _bytes(string_to_sign)),
            ("CanonicalRequest", canonical_request),
            ("CanonicalRequestBytes", _bytes(canonical_request)),
        ),
    )


def _authorization(params: Mapping[str, str]) -> _Authorization | Refusal:
    """The URL's SigV4 parameters, or S3's 400 for missing or malformed ones."""

    def refused(message: str) -> Refusal:
        return Refusal(400, "AuthorizationQueryParametersError", message)

    if any(not params.get(name) for name in AUTH_PARAMETERS):
        return refused(MISSING_PARAMETERS)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        return refused(BAD_ALGORITHM)
    scope = params["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        return refused(BAD_CREDENTIAL)
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return refused(BAD_DATE)
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        return refused(BAD_EXPIRES)
    if expires < 0:
        return refused(NEGATIVE_EXPIRES)
    if expires > MAX_EXPIRES_SECONDS:
        return refused(LONG_EXPIRES)
    return _Authorization(
        access_key=scope[0],
        region=scope[2],
        service=scope[3],
        timestamp=params["X-Amz-Date"],
        signed_at=signed_at,
        expires=expires,
        signed_headers=[name for name in params["X-Amz-SignedHeaders"].lower().split(";") if name],
        signature=params["X-Amz-Signature"],
    )


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, percent-decoded ('+' stays a '+', as SigV4 reads it)."""
    pairs = []
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _signature(
    auth: _Authorization,
    secret_key: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    signed_headers: dict[str, str],
) -> tuple[str, str, str]:
    """(string to sign, canonical request, signature) as botocore's presigning signer computes
    them for this request: the path and the query percent-encoded as SigV4 encodes them, the
    payload UNSIGNED-PAYLOAD (a signed x-amz-content-sha256's value where there is one)."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    canonical_path = quote(unquote(path) or "/", safe="/~")
    canonical_query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in query
    )
    request = AWSRequest(method=method.upper(), url=f"http://unused{canonical_path}?{canonical_query}")
    for name, value in signed_headers.items():
        request.headers[name] = value
    request.context["timestamp"] = auth.timestamp
    credentials = Credentials(auth.access_key, secret_key)
    signer = S3SigV4QueryAuth(credentials, auth.service, auth.region, expires=auth.expires)
    canonical_request = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical_request)
    return string_to_sign, canonical_request, signer.signature(string_to_sign, request)


def _bytes(text: str) -> str:
    return " ".join(f"{byte:02x}" for byte in text.encode())
