"""Files: metadata in the table, bytes in S3.

- `D#<domain>#F#<file>` / `META`: the file (owner, name, type, declared size, S3 key), with GSI1
  keys `D#<domain>#U#<owner>#FILES` / `<file>` (the files a user uploaded); `pending` and a `ttl` a
  day after the upload until a message first carries it (`attached_op`: then the domain's
  retention's `ttl`, or none);
- `D#<domain>#F#<file>` / `IN#<container>#<message>`: one per message carrying the file, written
  in the message's own transaction. "Who may download this file" is one Query of the file's
  partition: its owner, and whoever can see one of those conversations.

The bytes live at `files/<domain>/<file id>/<safe filename>` in the bucket: scoped by domain (a
domain's purge deletes one prefix) and by file id (no two uploads share a key)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from chalicelib.core import aws
from chalicelib.core.clock import iso_ms
from chalicelib.core.config import get_settings
from chalicelib.core.log import get_logger
from chalicelib.domain.models import Conversation, ConversationKind, File, Message
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Item, Table
from chalicelib.repositories.messages import container
from chalicelib.repositories.timestamps import expiry_of, parse_ms, ttl_of

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import TagTypeDef

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutObjectTagging",
    "s3:DeleteObjectTagging",
)

log = get_logger(__name__)

FILES_PREFIX = "files/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_KEY_NAME = 100


def safe_filename(filename: str) -> str:
    """The file's name as it appears in its S3 key: ASCII letters, digits, `.`, `_` and `-`
    only (accents dropped, anything else a `_`), at most 100 characters, never empty nor a dot
    path."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    name = _UNSAFE.sub("_", ascii_name).strip("._")
    if len(name) > MAX_KEY_NAME:
        _, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 10 else ""
        name = name[: MAX_KEY_NAME - len(keep) - 1].rstrip("._") + ("." + keep if keep else "")
    return name or "file"


def object_key(domain: str, file_id: str, filename: str) -> str:
    return f"{FILES_PREFIX}{domain}/{file_id}/{safe_filename(filename)}"


class FileRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    def create(self, file: File) -> None:
        """The file's record, with its partition's registry entry (what a domain's deletion reads)."""
        registered = partitions.file_entry(file.domain, file.id)
        self._table.transact(
            [self._table.put_op(self.to_item(file), ITEM_IS_NEW), self._table.put_op(registered)]
        )

    def get_many(self, domain: str, file_ids: list[str]) -> dict[str, File]:
        """The files of these ids that exist in the domain (one BatchGetItem per 100)."""
        found = self._table.batch_get([(keys.file_pk(domain, fid), keys.META) for fid in file_ids])
        files = (self.from_item(item) for item in found.values())
        return {f.id: f for f in files}

    def get_with_conversations(self, domain: str, file_id: str) -> tuple[File | None, list[Conversation]]:
        """The file and the conversations of the messages that carry it: one Query."""
        file: File | None = None
        conversations: dict[tuple[Any, ...], Conversation] = {}
        for item in self._table.query_all(keys.file_pk(domain, file_id)):
            if item["sk"] == keys.META:
                file = self.from_item(item)
            elif item["sk"].startswith(keys.ATTACHMENT_PREFIX):
                conversation = self.conversation_from_attachment(domain, item)
                conversations[(conversation.kind, conversation.group_id, conversation.user_ids)] = (
                    conversation
                )
        return file, list(conversations.values())

    def attachment_ops(self, message: Message) -> list[dict[str, Any]]:
        """One Put per file the message carries, for the message's transaction."""
        conversation = message.conversation
        return [
            self._table.put_op(
                {
                    "pk": keys.file_pk(conversation.domain, file_id),
                    "sk": keys.attachment_sk(container(conversation), message.id),
                    "type": "attachment",
                    "file_id": file_id,
                    "message_id": message.id,
                    "kind": conversation.kind.value,
                    "group_id": conversation.group_id,
                    "user_ids": list(conversation.user_ids) if conversation.user_ids else None,
                    "created_at": iso_ms(message.created_at),
                    "ttl": ttl_of(message.expires_at),
                }
            )
            for file_id in message.file_ids
        ]

    def attached_op(self, file: File) -> dict[str, Any]:
        """For the transaction of the first message that carries the file: its record is no longer
        pending, and its `ttl` is `file.expires_at` (the domain's retention), or gone. On the
        condition that the record still exists (an Update would make a stub of a deleted one)."""
        pk = keys.file_pk(file.domain, file.id)
        names = {"#ttl": "ttl"}  # a reserved word
        if file.expires_at is None:
            return self._table.update_op(
                pk, keys.META, "REMOVE #ttl, pending", None, "attribute_exists(pk)", names
            )
        return self._table.update_op(
            pk,
            keys.META,
            "SET #ttl = :ttl REMOVE pending",
            {":ttl": ttl_of(file.expires_at)},
            "attribute_exists(pk)",
            names,
        )

    @staticmethod
    def conversation_from_attachment(domain: str, item: Item) -> Conversation:
        if item["kind"] == ConversationKind.GROUP.value:
            return Conversation.of_group(domain, item["group_id"])
        first, second = item["user_ids"]
        return Conversation.of_chat(domain, first, second)

    @staticmethod
    def to_item(file: File) -> Item:
        return {
            "pk": keys.file_pk(file.domain, file.id),
            "sk": keys.META,
            "type": "file",
            "id": file.id,
            "domain": file.domain,
            "owner_id": file.owner_id,
            "filename": file.filename,
            "content_type": file.content_type,
            "size": file.size,
            "s3_key": file.s3_key,
            "created_at": iso_ms(file.created_at),
            "ttl": ttl_of(file.expires_at),
            "pending": True if file.pending else None,
            "gsi1pk": keys.user_files_gsi1pk(file.domain, file.owner_id),
            "gsi1sk": file.id,
        }

    @staticmethod
    def from_item(item: Item) -> File:
        return File(
            id=item["id"],
            domain=item["domain"],
            owner_id=item["owner_id"],
            filename=item["filename"],
            content_type=item["content_type"],
            size=int(item["size"]),
            s3_key=item["s3_key"],
            created_at=parse_ms(item["created_at"]),
            expires_at=expiry_of(item),
            pending=bool(item.get("pending")),
        )


class ObjectStore:
    """The files bucket. URLs are signed with SigV4 (core/aws.py configures the S3 client so): a
    presigned PUT signs `content-length` and `content-type`, so S3 refuses an upload of another
    size or type."""

    def __init__(
        self,
        client_factory: Callable[[], S3Client] = aws.s3,
        bucket_factory: Callable[[], str] = lambda: get_settings().bucket,
    ) -> None:
        self._client_factory = client_factory
        self._bucket_factory = bucket_factory

    def _client(self) -> S3Client:
        return self._client_factory()

    def presign_put(
        self, key: str, content_type: str, size: int | None, expires_in: int, tagging: str | None = None
    ) -> str:
        """With `size`, the URL signs Content-Length; with `tagging`, `x-amz-tagging` too: S3
        refuses an upload without them."""
        params: dict[str, Any] = {"Bucket": self._bucket_factory(), "Key": key, "ContentType": content_type}
        if size is not None:
            params["ContentLength"] = size
        if tagging:
            params["Tagging"] = tagging
        return self._client().generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)

    def presign_get(self, key: str, filename: str, expires_in: int) -> str:
        """A download that saves the file under its own name (never rendered inline by the
        browser from our bucket's origin)."""
        disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        params = {"Bucket": self._bucket_factory(), "Key": key, "ResponseContentDisposition": disposition}
        return self._client().generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def delete(self, key: str) -> None:
        self._client().delete_object(Bucket=self._bucket_factory(), Key=key)

    def set_tags(self, key: str, tagging: str | None) -> None:
        """The object's tags become exactly `tagging` (`k=v&k=v`; None: no tag): one
        PutObjectTagging, or DeleteObjectTagging for none (moto refuses an empty TagSet). The same
        tags set twice change nothing."""
        bucket = self._bucket_factory()
        tags: list[TagTypeDef] = [
            {"Key": k, "Value": v} for k, v in parse_qsl(tagging or "", keep_blank_values=True)
        ]
        if tags:
            self._client().put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
        else:
            self._client().delete_object_tagging(Bucket=bucket, Key=key)

    def first_bytes(self, key: str, count: int) -> bytes:
        """The object's first `count` bytes (a ranged GetObject): enough to tell its kind."""
        bucket = self._bucket_factory()
        answer = self._client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{count - 1}")
        return bytes(answer["Body"].read(count))

    def stored_size(self, key: str) -> int | None:
        """The size of the object at `key`, or None when nothing was uploaded there (HeadObject).

        S3 answers a HeadObject of a missing key 404 only to a caller allowed `s3:ListBucket`;
        to anyone else (our functions: .chalice/policy.json grants object actions only) it
        answers 403, so that keys cannot be probed. Both mean "not there" to us. A 403 for an
        object that exists (a policy that lost s3:GetObject) reads the same, so it is logged."""
        from botocore.exceptions import ClientError

        try:
            answer = self._client().head_object(Bucket=self._bucket_factory(), Key=key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                return None
            if code in _FORBIDDEN_CODES:
                log.warning("HeadObject answered %s for %s: counted as not uploaded", code, key)
                return None
            raise
        return int(answer["ContentLength"])


_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_FORBIDDEN_CODES = frozenset({"403", "Forbidden", "AccessDenied"})
