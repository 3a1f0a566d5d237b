"""What the permanent deletion of a user reads and deletes, reached only through indexes of the
user's own items (API.md §4, docs/DATA_MODEL.md "Deleting a user"):

- the user's private chats: the `CHAT#<other>` items of the user's partition;
- the groups the user created: GSI1 `D#<d>#U#<user>#CREATED_GROUPS`;
- the messages the user posted: GSI1 `D#<d>#U#<user>#MESSAGES`;
- the files the user uploaded: GSI1 `D#<d>#U#<user>#FILES`;
- the user's memberships: GSI1 `D#<d>#U#<user>#GROUPS`;
- everything else of the user: the user's own partition.

Deletes are buffered and sent 25 a BatchWriteItem, S3 objects 1 000 a DeleteObjects; `flush()`
sends what is left (a step saves its checkpoint only after it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from chalicelib.repositories import keys
from chalicelib.repositories.dynamo import BATCH_WRITE_LIMIT, Item, KeyPair, Table

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "s3:ListBucket",
    "s3:DeleteObject",
)

S3_DELETE_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    items: list[Item]
    cursor: dict[str, Any] | None


class Eraser:
    def __init__(self, table: Table, s3_factory: Callable[[], Any] = aws.s3) -> None:
        self._table = table
        self._s3_factory = s3_factory
        # deletes (None) and puts (the item) in the order asked, sent 25 a BatchWriteItem
        self._keys: dict[KeyPair, Item | None] = {}
        self._objects: dict[str, None] = {}

    # --- reads (each a Query of the user's own items, or of one conversation) -------------------

    def chats_of(self, domain: str, user_id: str, limit: int) -> list[Item]:
        return self._table.query(keys.user_pk(domain, user_id), sk_prefix=keys.CHAT_PREFIX, limit=limit).items

    def created_groups(self, domain: str, user_id: str, limit: int) -> list[Item]:
        return self._table.query(keys.created_groups_gsi1pk(domain, user_id), index="gsi1", limit=limit).items

    def page(
        self, partition: str, limit: int, cursor: dict[str, Any] | None, index: str | None = None
    ) -> Page:
        found = self._table.query(partition, index=index, limit=limit, start_key=cursor)
        return Page(found.items, found.last_key)

    def file_partition(self, domain: str, file_id: str) -> list[Item]:
        return list(self._table.query_all(keys.file_pk(domain, file_id)))

    def count(
        self,
        partition: str,
        index: str | None = None,
        sk_prefix: str | None = None,
        live_at: int | None = None,
    ) -> int:
        return self._table.count(partition, index=index, sk_prefix=sk_prefix, live_at=live_at)

    # --- buffered deletes ------------------------------------------------------------------------

    def delete_item(self, item: Item) -> None:
        self.delete_key(item["pk"], item["sk"])

    def delete_key(self, pk: str, sk: str) -> None:
        self._keys[(pk, sk)] = None
        if len(self._keys) >= BATCH_WRITE_LIMIT:
            self._send_keys(whole_batches_only=True)

    def put_item(self, item: Item) -> None:
        """A Put sent with the deletes, after those asked before it (a registry entry written
        before the item that named it is deleted)."""
        self._keys[(item["pk"], item["sk"])] = item
        if len(self._keys) >= BATCH_WRITE_LIMIT:
            self._send_keys(whole_batches_only=True)

    def object_keys(self, prefix: str, limit: int = S3_DELETE_LIMIT) -> tuple[list[str], bool]:
        """The first `limit` keys under a prefix (ListObjectsV2), and whether more follow."""
        answer = self._s3_factory().list_objects_v2(
            Bucket=get_settings().bucket, Prefix=prefix, MaxKeys=limit
        )
        return [entry["Key"] for entry in answer.get("Contents") or []], bool(answer.get("IsTruncated"))

    def delete_object(self, key: str) -> None:
        self._objects[key] = None
        if len(self._objects) >= S3_DELETE_LIMIT:
            self._send_objects()

    def flush(self) -> None:
        self._send_keys(whole_batches_only=False)
        self._send_objects()

    @property
    def pending(self) -> int:
        return len(self._keys) + len(self._objects)

    def _send_keys(self, whole_batches_only: bool) -> None:
        pending = list(self._keys)
        count = len(pending) - len(pending) % BATCH_WRITE_LIMIT if whole_batches_only else len(pending)
        for start in range(0, count, BATCH_WRITE_LIMIT):
            batch = pending[start : min(start + BATCH_WRITE_LIMIT, count)]
            puts = [item for key in batch if (item := self._keys[key]) is not None]
            self._table.batch_write(puts=puts, deletes=[key for key in batch if self._keys[key] is None])
            for key in batch:
                del self._keys[key]

    def _send_objects(self) -> None:
        if not self._objects:
            return
        objects = [{"Key": key} for key in self._objects]
        bucket = get_settings().bucket
        s3 = self._s3_factory()
        for start in range(0, len(objects), S3_DELETE_LIMIT):
            answer = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": objects[start : start + S3_DELETE_LIMIT], "Quiet": True}
            )
            errors = answer.get("Errors") or []
            if errors:  # raise: SQS delivers the step again and the delete is retried
                raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[0].get('Code')}")
        self._objects.clear()
