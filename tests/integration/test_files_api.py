"""§5 Files over HTTP: presigned uploads bound to size and type, messages carrying files, and
downloads only for those who can see such a message."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests

from chalicelib.core.config import reset_settings
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import Table
from tests.conftest import Api, error_of
from tests.integration.tenancy_content import add_member, admin_id, create_group, post, sign_in, upload

MB = 1024 * 1024


def _upload_request(api: Api, token: str, **fields: Any) -> Any:
    body = {"filename": "report.pdf", "content_type": "application/pdf", "size": 1234, **fields}
    return api.call("POST", "/files", body, token=token)


def _download(api: Api, token: str, file_id: str) -> Any:
    return api.call("GET", f"/files/{file_id}", token=token)


def test_an_upload_url_is_bound_to_the_declared_size_and_type(api: Api, clock: Any) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    response = _upload_request(api, mo, filename="Q3 résumé (final).pdf")
    assert response.status_code == 201
    answer = response.json_body
    file_id = answer["file_id"]
    assert answer["method"] == "PUT"
    # pending until a message carries it: S3's lifecycle removes it a day on otherwise (issue 17)
    assert answer["headers"] == {
        "Content-Type": "application/pdf",
        "Content-Length": "1234",
        "x-amz-tagging": "pending=true",
    }
    assert answer["expires_at"] == "2026-11-24T12:15:00Z"
    assert answer["file"] == {
        "id": file_id,
        "filename": "Q3 résumé (final).pdf",
        "content_type": "application/pdf",
        "size": 1234,
    }
    url = urlparse(answer["upload_url"])
    params = parse_qs(url.query)
    # the key is scoped by domain and file; the name is made safe for a key
    assert unquote(url.path).endswith(f"/files/acme/{file_id}/Q3_resume_final_.pdf")
    assert params["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and params["X-Amz-Expires"] == ["900"]
    assert params["X-Amz-SignedHeaders"] == ["content-length;content-type;host;x-amz-tagging"]
    # `headers` are exactly the headers the URL signs (Host aside): the client sends just those
    assert {*map(str.lower, answer["headers"]), "host"} == set(params["X-Amz-SignedHeaders"][0].split(";"))
    stored = Table().get(keys.file_pk("acme", file_id), keys.META)
    assert stored is not None
    assert {k: stored[k] for k in ("owner_id", "filename", "content_type", "size", "s3_key")} == {
        "owner_id": mo_id,
        "filename": "Q3 résumé (final).pdf",
        "content_type": "application/pdf",
        "size": 1234,
        "s3_key": f"files/acme/{file_id}/Q3_resume_final_.pdf",
    }
    assert (stored["gsi1pk"], stored["gsi1sk"]) == (keys.user_files_gsi1pk("acme", mo_id), file_id)


def test_upload_fields_are_checked_and_size_is_capped(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = api.admin_token()
    assert _upload_request(api, admin, size=100 * MB).status_code == 201  # the default cap: 100 MB
    assert error_of(_upload_request(api, admin, size=100 * MB + 1)) == (413, "payload_too_large")
    assert error_of(_upload_request(api, admin, size=0)) == (400, "invalid_field")
    assert error_of(_upload_request(api, admin, size="12")) == (400, "invalid_field")
    assert error_of(_upload_request(api, admin, content_type="pdf")) == (400, "invalid_content_type")
    assert error_of(_upload_request(api, admin, content_type="text/plain\r\nX-Evil: 1")) == (
        400,
        "invalid_content_type",
    )
    assert _upload_request(api, admin, content_type="text/plain; charset=utf-8").status_code == 201
    assert error_of(_upload_request(api, admin, filename="")) == (400, "missing_field")
    assert error_of(_upload_request(api, admin, filename="x" * 256)) == (400, "invalid_field")
    dots = _upload_request(api, admin, filename="../../etc/passwd").json_body
    assert unquote(urlparse(dots["upload_url"]).path).endswith(f"/files/acme/{dots['file_id']}/etc_passwd")
    monkeypatch.setenv("OC_MAX_UPLOAD_BYTES", "1000")
    reset_settings()
    assert error_of(_upload_request(api, admin, size=1001)) == (413, "payload_too_large")
    assert _upload_request(api, admin, size=1000).status_code == 201


def test_the_uploader_downloads_what_was_uploaded(api: Api) -> None:
    api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    file_id = upload(api, mo, b"quarterly numbers", "numbers.txt")
    response = _download(api, mo, file_id)
    assert response.status_code == 200
    answer = response.json_body
    assert answer["file"] == {
        "id": file_id,
        "filename": "numbers.txt",
        "content_type": "text/plain",
        "size": 17,
    }
    assert answer["expires_at"] == "2026-11-24T12:15:00Z"
    params = parse_qs(urlparse(answer["download_url"]).query)
    assert params["X-Amz-Expires"] == ["900"]
    assert params["response-content-disposition"] == ["attachment; filename*=UTF-8''numbers.txt"]
    assert requests.get(answer["download_url"], timeout=10).content == b"quarterly numbers"


def test_a_file_is_visible_to_whoever_sees_a_message_carrying_it(api: Api) -> None:
    admin = api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    _, ann = sign_in(api, "acme", "ann@acme.example")
    group = create_group(api, mo)
    file_id = upload(api, mo, b"plan", "plan.txt")
    # before it is posted, only the uploader sees it
    for token in (eve, ann, admin):
        assert error_of(_download(api, token, file_id)) == (404, "file_not_found")
    assert add_member(api, mo, group["id"], eve_id).status_code == 201
    posted = post(api, mo, f"/groups/{group['id']}/messages", "the plan", [file_id])
    assert posted.status_code == 201
    assert posted.json_body["files"] == [
        {"id": file_id, "filename": "plan.txt", "content_type": "text/plain", "size": 4}
    ]
    listed = api.call("GET", f"/groups/{group['id']}/messages", token=eve).json_body["items"]
    assert listed == [posted.json_body]
    attachment = Table().get(
        keys.file_pk("acme", file_id),
        keys.attachment_sk(keys.group_container(group["id"]), posted.json_body["id"]),
    )
    assert attachment is not None and attachment["group_id"] == group["id"]
    # a member downloads; a non-member and a domain admin who is not a member do not
    download = _download(api, eve, file_id)
    assert download.status_code == 200
    assert requests.get(download.json_body["download_url"], timeout=10).content == b"plan"
    assert error_of(_download(api, ann, file_id)) == (404, "file_not_found")
    assert error_of(_download(api, admin, file_id)) == (404, "file_not_found")
    # leaving the group ends it
    assert api.call("DELETE", f"/groups/{group['id']}/members/{eve_id}", token=eve).status_code == 204
    assert error_of(_download(api, eve, file_id)) == (404, "file_not_found")
    assert error_of(_download(api, eve, "nope")) == (404, "file_not_found")


def test_a_file_sent_in_a_private_chat_is_for_its_two_users(api: Api) -> None:
    api.admin_token()
    mo_id, mo = sign_in(api, "acme", "mo@acme.example")
    eve_id, eve = sign_in(api, "acme", "eve@acme.example")
    _, ann = sign_in(api, "acme", "ann@acme.example")
    file_id = upload(api, mo, b"psst", "secret.txt")
    only_file = post(api, mo, f"/chats/{eve_id}/messages", "", [file_id])  # a file needs no text
    assert only_file.status_code == 201 and only_file.json_body["text"] == ""
    assert _download(api, eve, file_id).status_code == 200
    assert error_of(_download(api, ann, file_id)) == (404, "file_not_found")
    chat = api.call("GET", f"/chats/{mo_id}/messages", token=eve).json_body["items"]
    assert [f["id"] for m in chat for f in m["files"]] == [file_id]


def test_a_message_carries_only_the_posters_uploaded_files(api: Api) -> None:
    admin = api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    group = create_group(api, mo)
    assert add_member(api, mo, group["id"], admin_id(api, admin)).status_code == 201
    path = f"/groups/{group['id']}/messages"
    admins_file = upload(api, admin, b"mine", "admin.txt")
    assert error_of(post(api, mo, path, "stolen", [admins_file])) == (400, "invalid_file")
    assert error_of(post(api, mo, path, "junk", ["not-an-id"])) == (400, "invalid_file")
    assert error_of(post(api, mo, path, "junk", ["01jd3x6f2q8k9m4n5p7r0s1t2v"])) == (400, "invalid_file")
    assert error_of(api.call("POST", path, {"text": "junk", "file_ids": [5]}, token=mo)) == (
        400,
        "invalid_field",
    )
    never_uploaded = _upload_request(api, mo).json_body["file_id"]
    assert error_of(post(api, mo, path, "soon", [never_uploaded])) == (400, "file_not_uploaded")
    many = [upload(api, mo, b"x", f"{n}.txt") for n in range(11)]
    assert error_of(post(api, mo, path, "many", many)) == (400, "too_many_files")
    ten = post(api, mo, path, "ten, one twice", [*many[:10], many[0]])
    assert ten.status_code == 201 and [f["id"] for f in ten.json_body["files"]] == many[:10]
    # nothing was written for the refused ones: no message, and the admin's file stays the admin's
    assert [m["text"] for m in api.call("GET", path, token=mo).json_body["items"]] == ["ten, one twice"]
    assert error_of(_download(api, mo, admins_file)) == (404, "file_not_found")
    assert Table().get(keys.file_pk("acme", never_uploaded), keys.META) is not None
