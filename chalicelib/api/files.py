"""§5 Files: an upload URL (presigned S3 PUT) and a download URL (presigned S3 GET)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import any_user, json_body, json_response, reads_body
from chalicelib.api.views import download_view, file_view, presigned_upload_view
from chalicelib.bootstrap import services
from chalicelib.domain.models import Principal
from chalicelib.services.files import MAX_CONTENT_TYPE, MAX_FILENAME

bp = Blueprint(__name__)

# JSON's safe integers; the configured cap (413) is the real limit.
MAX_DECLARED_SIZE = 2**53


@bp.route("/files", methods=["POST"])
@any_user
@reads_body
def create_file_upload(principal: Principal) -> Response:
    body = json_body(accepts=("filename", "content_type", "size"))
    filename = body.required_string("filename", max_length=MAX_FILENAME)
    content_type = body.required_string("content_type", max_length=MAX_CONTENT_TYPE)
    size = body.integer("size", minimum=1, maximum=MAX_DECLARED_SIZE)
    assert size is not None
    ticket = services().files.create_upload(principal, filename, content_type, size)
    answer = presigned_upload_view(
        "file",
        ticket.file.id,
        ticket.url,
        ticket.expires_at,
        content_type=ticket.file.content_type,
        size=ticket.file.size,
        tagging=ticket.tagging,
        extras={"file": file_view(ticket.file)},
    )
    return json_response(answer, 201)


@bp.route("/files/{file_id}", methods=["GET"])
@any_user
def get_file_download(principal: Principal, file_id: str) -> Response:
    return json_response(download_view(services().files.download(principal, file_id)))
