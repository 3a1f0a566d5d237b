"""A file that was never uploaded, as AWS answers it: S3's HeadObject of a missing key is a 403
(not a 404) for a caller without s3:ListBucket, which our functions are not granted. Attaching such
a file answers 400 `file_not_uploaded`, not 500. moto answers 404, so the S3 client here is one
whose HeadObject answers as AWS does (a botocore Stubber, injected through the object store's
client factory)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.bootstrap import Services, build_services, use_services
from chalicelib.repositories.chats import ChatRepository
from chalicelib.repositories.dynamo import Table
from chalicelib.repositories.files import FileRepository, ObjectStore
from chalicelib.repositories.groups import GroupRepository
from chalicelib.repositories.integrations import IntegrationRepository
from chalicelib.repositories.messages import MessageRepository
from chalicelib.repositories.users import UserRepository
from chalicelib.services.files import FileService
from chalicelib.services.messages import MessageService
from tests.conftest import Api, error_of
from tests.integration.tenancy_content import create_group, post, sign_in


def s3_client() -> Any:
    return boto3.session.Session().client("s3", region_name="us-east-1")


def with_store(clock: Any, store: ObjectStore) -> Services:
    """The app's services, with files and messages on this object store."""
    table = Table()
    groups = GroupRepository(table)
    files = FileRepository(table)
    file_service = FileService(files, store, groups, clock)
    messages = MessageService(
        table,
        groups,
        UserRepository(table),
        MessageRepository(table),
        ChatRepository(table),
        files,
        file_service,
        IntegrationRepository(table),
        lambda *_: None,  # no group here has an integration
        clock,
    )
    return replace(build_services(clock=clock), files=file_service, messages=messages)


@pytest.fixture
def stubbed(client: Any, clock: Any) -> Iterator[Stubber]:
    s3 = s3_client()
    stubber = Stubber(s3)
    stubber.activate()
    use_services(with_store(clock, ObjectStore(client_factory=lambda: s3)))
    yield stubber
    stubber.deactivate()


def forbidden(stubber: Stubber) -> None:
    """HeadObject of a key that does not exist, asked without s3:ListBucket."""
    stubber.add_client_error(
        "head_object", service_error_code="403", service_message="Forbidden", http_status_code=403
    )


def new_file(api: Api, token: str, size: int = 1234) -> str:
    body = {"filename": "report.pdf", "content_type": "application/pdf", "size": size}
    answer = api.call("POST", "/files", body, token=token)
    assert answer.status_code == 201, answer.json_body
    return str(answer.json_body["file_id"])


def test_attaching_a_file_never_uploaded_answers_400_when_head_object_is_a_403(
    api: Api, stubbed: Stubber
) -> None:
    api.admin_token()
    _, mo = sign_in(api, "acme", "mo@acme.example")
    bo_id, _ = sign_in(api, "acme", "bo@acme.example")
    group = create_group(api, mo)
    file_id = new_file(api, mo)
    forbidden(stubbed)
    answer = post(api, mo, f"/groups/{group['id']}/messages", "soon", [file_id])
    assert error_of(answer) == (400, "file_not_uploaded")
    assert "file_ids" in answer.json_body["error"]["message"]
    forbidden(stubbed)
    assert error_of(post(api, mo, f"/chats/{bo_id}/messages", "soon", [file_id])) == (
        400,
        "file_not_uploaded",
    )
    stubbed.assert_no_pending_responses()
    # once it is there (HeadObject answers its size), the same file goes, and its object loses the
    # pending tag (acme keeps content: no tag is left) before the message commits
    stubbed.add_response("head_object", {"ContentLength": 1234})
    stubbed.add_response("delete_object_tagging", {})
    assert post(api, mo, f"/groups/{group['id']}/messages", "now", [file_id]).status_code == 201
    stubbed.assert_no_pending_responses()


def test_stored_size_reads_403_and_404_as_missing_and_raises_anything_else() -> None:
    s3 = s3_client()
    store = ObjectStore(client_factory=lambda: s3, bucket_factory=lambda: "bucket")
    with Stubber(s3) as stubber:
        forbidden(stubber)
        stubber.add_client_error("head_object", service_error_code="404", http_status_code=404)
        stubber.add_client_error("head_object", service_error_code="AccessDenied", http_status_code=403)
        stubber.add_response("head_object", {"ContentLength": 7}, {"Bucket": "bucket", "Key": "k"})
        stubber.add_client_error("head_object", service_error_code="SlowDown", http_status_code=503)
        assert store.stored_size("k") is None
        assert store.stored_size("k") is None
        assert store.stored_size("k") is None
        assert store.stored_size("k") == 7
        with pytest.raises(Exception, match="SlowDown"):
            store.stored_size("k")
