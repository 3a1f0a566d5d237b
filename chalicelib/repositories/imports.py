"""CSV imports (API.md §7): the import record, its errors, the users it created, the per-row
markers that make a re-run change nothing, the claim of an S3 object, and the S3 side (the
uploaded file as a stream, the report).

- `D#<d>#IMPORTS` / `IMPORT#<id>`: the import (options, status, counts, checkpoint), in one
  partition per domain: ids sort by creation time, so a Query newest first is the list (no
  index needed);
- `D#<d>#IMPORT#<id>` / `ERR#<line>`: the first 1 000 row errors;
- `D#<d>#IMPORT#<id>` / `NEW#<line>`: each user the import created (the invitation step reads them);
- `D#<d>#E#<email>` / `IMPORT#<id>`: the row of this import that claimed this email, and its
  outcome: an email seen again is a duplicate, and a row re-read after a crash finds its outcome.
  A row that created the user has no such item: the user's EMAIL item (`D#<d>#E#<email>` /
  `EMAIL`) carries `import_id` and `import_line` instead; it is the row's claim on the email,
  written first and only if the email has no owner;
- `D#<d>#IMPORTOBJ#<sha256(bucket/key/version:<versionId>)>` (or `.../sequencer:<sequencer>`
  where the bucket is not versioned; `bucket/key/<etag>` for an event record with neither) /
  `META`: which import an S3 object started, so that a second delivery of its event is known.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from chalicelib.core import aws
from chalicelib.core.clock import epoch, iso_ms
from chalicelib.core.config import get_settings
from chalicelib.domain.import_record import COUNT_NAMES, Checkpoint, ImportRecord, RowMarker
from chalicelib.repositories import keys, partitions
from chalicelib.repositories.dynamo import ITEM_IS_NEW, Condition, Item, Table
from chalicelib.repositories.timestamps import parse_ms

# The AWS calls this module makes, as IAM actions: .chalice/policy-*.json grant them to the functions
# that use this module (tests/unit/test_package.py checks both).
AWS_CALLS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutObjectTagging",
    "s3:GetObjectTagging",
)

MARKER_LIFETIME = timedelta(days=30)
CREATED_BY_IMPORT, CREATED_BY_LINE = "import_id", "import_line"  # on the EMAIL item of a new user
MULTIPART_MIN_BYTES = 5 * 1024 * 1024
MAX_REASON_CHARS = 300  # of a row marker's reason


class ObjectReplaced(Exception):
    """The object at an import's key is no longer the one the import started with (a later PUT
    at the same key, on a bucket that is not versioned): S3 refused the read's If-Match."""


@dataclass(frozen=True)
class EmailOwner:
    """Who holds an email: its user, whether a password is set, and the import row that created
    the user (None for a user made any other way)."""

    user_id: str
    has_password: bool
    import_id: str | None = None
    line: int | None = None


class ImportRepository:
    def __init__(self, table: Table) -> None:
        self._table = table

    # --- the import record -----------------------------------------------------------------------

    def create_op(self, record: ImportRecord) -> dict[str, Any]:
        return self._table.put_op(self.to_item(record), ITEM_IS_NEW)

    def register_op(self, record: ImportRecord) -> dict[str, Any]:
        """The registry entry of the import's partition (its errors, its new users' list): what a
        domain's deletion reads."""
        return self._table.put_op(partitions.import_entry(record.domain, record.id))

    def create(self, record: ImportRecord) -> None:
        self._table.transact([self.create_op(record), self.register_op(record)])

    def get(self, domain: str, import_id: str) -> ImportRecord | None:
        item = self._table.get(keys.domain_imports_pk(domain), keys.import_sk(import_id))
        return self.from_item(item) if item else None

    def list_imports(
        self, domain: str, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[ImportRecord], dict[str, Any] | None]:
        page = self._table.query(
            keys.domain_imports_pk(domain),
            limit=limit,
            start_key=start_key,
            newest_first=True,
        )
        return [self.from_item(i) for i in page.items], page.last_key

    def save(self, record: ImportRecord, read: ImportRecord) -> None:
        """Saves the record if it is still where `read` left it (status, offset): of two
        deliveries working on one import only one moves it on (else ConditionFailed)."""
        self._table.put(self.to_item(record), self._unchanged(read))

    def save_op(self, record: ImportRecord, read: ImportRecord) -> dict[str, Any]:
        return self._table.put_op(self.to_item(record), self._unchanged(read))

    @staticmethod
    def _unchanged(read: ImportRecord) -> Condition:
        return Condition(
            "#status = :status AND progress_offset = :offset AND chunks_done = :chunk AND invited = :invited",
            {
                ":status": read.status,
                ":offset": read.checkpoint.offset,
                ":chunk": read.checkpoint.chunk,
                ":invited": read.invited,
            },
            {"#status": "status"},
        )

    # --- the S3 object's claim -----------------------------------------------------------------------

    @staticmethod
    def object_identity(
        bucket: str, key: str, version_id: str | None, sequencer: str | None, etag: str
    ) -> str:
        """One object among all those ever put at its key: its version, else its event's
        sequencer; the ETag (the bytes: a re-drop of the same file is the same) only for an
        event record with neither, as every import was identified before issue 14."""
        if version_id:
            which = f"version:{version_id}"
        elif sequencer:
            which = f"sequencer:{sequencer}"
        else:
            which = etag.strip(chr(34))
        return hashlib.sha256(f"{bucket}/{key}/{which}".encode()).hexdigest()

    def object_claim_op(
        self, domain: str, identity: str, import_id: str, described: dict[str, str | None]
    ) -> dict[str, Any]:
        """The claim of an object, naming the import it started and (for the logs of a second
        delivery) the object as its event described it: key, version, sequencer."""
        item = {"pk": keys.import_object_pk(domain, identity), "sk": keys.META, "import_id": import_id}
        return self._table.put_op({**described, **item, "type": "import_object"}, ITEM_IS_NEW)

    def object_claim_register_op(self, domain: str, identity: str) -> dict[str, Any]:
        return self._table.put_op(partitions.import_object_entry(domain, identity))

    def claimed_by(self, domain: str, identity: str) -> str | None:
        item = self._table.get(keys.import_object_pk(domain, identity), keys.META)
        return str(item["import_id"]) if item else None

    # --- rows ----------------------------------------------------------------------------------------

    def read_rows(
        self, domain: str, import_id: str, emails: list[str]
    ) -> tuple[dict[str, EmailOwner], dict[str, RowMarker]]:
        """For each email: its owner (the EMAIL item: the user, whether a password is set, the
        import row that created it), and the row of this import that claimed it (a marker, or
        the EMAIL item of a user this import created), in BatchGetItem calls (two keys an email)."""
        wanted = []
        for email in emails:
            wanted += [
                (keys.email_pk(domain, email), keys.EMAIL),
                (keys.email_pk(domain, email), keys.import_marker_sk(import_id)),
            ]
        found = self._table.batch_get(wanted)
        owners: dict[str, EmailOwner] = {}
        markers: dict[str, RowMarker] = {}
        for email in emails:
            owner = found.get((keys.email_pk(domain, email), keys.EMAIL))
            if owner:
                created_by = owner.get(CREATED_BY_IMPORT)
                line = int(owner[CREATED_BY_LINE]) if created_by else None
                owners[email] = EmailOwner(
                    str(owner["user_id"]), bool(owner.get("password_hash")), created_by, line
                )
                if created_by == import_id and line is not None:
                    markers[email] = RowMarker(import_id, line, "created", str(owner["user_id"]))
            marker = found.get((keys.email_pk(domain, email), keys.import_marker_sk(import_id)))
            if marker:
                error = (marker["error_code"], marker["error_message"]) if marker.get("error_code") else None
                markers[email] = RowMarker(
                    import_id,
                    int(marker["line"]),
                    marker["outcome"],
                    marker.get("user_id"),
                    error,
                    str(marker.get("reason") or ""),
                )
        return owners, markers

    def email_claim_op(self, email_item: Item, import_id: str, line: int) -> dict[str, Any]:
        """A new user's claim on its email: the EMAIL item, tagged with the import row that made
        it, written only if the email has no owner (never over a user made meanwhile)."""
        item = {**email_item, CREATED_BY_IMPORT: import_id, CREATED_BY_LINE: line}
        return self._table.put_op(item, ITEM_IS_NEW)

    def marker_item(self, domain: str, email: str, marker: RowMarker, now: datetime) -> Item:
        return {
            "pk": keys.email_pk(domain, email),
            "sk": keys.import_marker_sk(marker.import_id),
            "type": "import_row",
            "line": marker.line,
            "outcome": marker.outcome,
            "user_id": marker.user_id,
            "error_code": marker.error[0] if marker.error else None,
            "error_message": marker.error[1] if marker.error else None,
            "reason": marker.reason[:MAX_REASON_CHARS] or None,  # our own words, never the file's
            "ttl": epoch(now + MARKER_LIFETIME),
        }

    def marker_items(self, domain: str, email: str, marker: RowMarker, now: datetime) -> list[Item]:
        """A row's marker for a batched write, with the registry entry of its email's partition
        (the email may belong to nobody: a domain's deletion must still find it)."""
        return [self.marker_item(domain, email, marker, now), partitions.email_entry(domain, email)]

    def marker_op(self, domain: str, email: str, marker: RowMarker, now: datetime) -> dict[str, Any]:
        """A row's marker inside the transaction of its change: both land, or neither."""
        return self._table.put_op(self.marker_item(domain, email, marker, now), ITEM_IS_NEW)

    def new_user_item(self, domain: str, import_id: str, line: int, user_id: str, email: str) -> Item:
        return {
            "pk": keys.import_pk(domain, import_id),
            "sk": keys.import_new_user_sk(line),
            "type": "import_new_user",
            "user_id": user_id,
            "email": email,
        }

    def error_item(
        self, domain: str, import_id: str, line: int, number: int, code: str, message: str
    ) -> Item:
        """The `number`th error of a line (the heading line can have several)."""
        return {
            "pk": keys.import_pk(domain, import_id),
            "sk": keys.import_error_sk(line, number),
            "type": "import_error",
            "line": line,
            "code": code,
            "message": message,
        }

    def put_many(self, items: Iterable[Item]) -> int:
        """BatchWriteItem (25 a call, 4 calls in flight): every item here is keyed by its row,
        so writing it twice is writing it once, in any order."""
        return self._table.batch_write_parallel(list(items))

    def errors(self, domain: str, import_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        items = self._table.query(
            keys.import_pk(domain, import_id), sk_prefix=keys.IMPORT_ERROR_PREFIX, limit=limit
        ).items
        return [{"line": i["line"], "code": i["code"], "message": i["message"]} for i in items]

    def new_users(self, domain: str, import_id: str, after_line: int, limit: int) -> list[Item]:
        """The users the import created, in file order, from the line after `after_line`."""
        start = {
            "pk": {"S": keys.import_pk(domain, import_id)},
            "sk": {"S": keys.import_new_user_sk(after_line)},
        }
        page = self._table.query(
            keys.import_pk(domain, import_id),
            sk_prefix=keys.IMPORT_NEW_USER_PREFIX,
            limit=limit,
            start_key=start if after_line else None,
        )
        return page.items

    # --- items -----------------------------------------------------------------------------------

    @staticmethod
    def to_item(record: ImportRecord) -> Item:
        checkpoint = record.checkpoint
        return {
            "pk": keys.domain_imports_pk(record.domain),
            "sk": keys.import_sk(record.id),
            "type": "import",
            "id": record.id,
            "domain": record.domain,
            "status": record.status,
            "mode": record.mode,
            "send_invites": record.send_invites,
            "dry_run": record.dry_run,
            "source": record.source,
            "s3_key": record.s3_key,
            "requested_by": record.requested_by,
            "counts": record.counts,
            "progress_offset": checkpoint.offset,
            "progress_line": checkpoint.line,
            "chunks_done": checkpoint.chunk,
            "errors_kept": checkpoint.errors_kept,
            "object_etag": record.object_etag,
            "object_version": record.object_version,
            "given_options": record.given_options,
            "job_id": record.job_id,
            "error": record.error,
            "invited": record.invited,
            "report_key": record.report_key,
            "created_at": iso_ms(record.created_at),
            "updated_at": iso_ms(record.updated_at),
            "finished_at": iso_ms(record.finished_at) if record.finished_at else None,
        }

    @staticmethod
    def from_item(item: Item) -> ImportRecord:
        finished = item.get("finished_at")
        return ImportRecord(
            id=item["id"],
            domain=item["domain"],
            status=item["status"],
            mode=item["mode"],
            send_invites=bool(item.get("send_invites")),
            dry_run=bool(item.get("dry_run")),
            source=item.get("source", "upload"),
            s3_key=item["s3_key"],
            requested_by=item.get("requested_by"),
            counts={name: int((item.get("counts") or {}).get(name, 0)) for name in COUNT_NAMES},
            checkpoint=Checkpoint(
                offset=int(item.get("progress_offset", 0)),
                line=int(item.get("progress_line", 1)),
                chunk=int(item.get("chunks_done", 0)),
                errors_kept=int(item.get("errors_kept", 0)),
            ),
            object_etag=item.get("object_etag"),
            object_version=item.get("object_version"),
            given_options=item.get("given_options"),
            job_id=item.get("job_id"),
            error=item.get("error"),
            invited=bool(item.get("invited")),
            report_key=item.get("report_key"),
            created_at=parse_ms(item["created_at"]),
            updated_at=parse_ms(item["updated_at"]),
            finished_at=parse_ms(finished) if finished else None,
        )


class ImportFiles:
    """The S3 side of an import: the file, read as a stream from an offset; its metadata; the
    report, written part by part (one object a chunk) and joined at the end."""

    def __init__(self, s3_factory: Any = aws.s3) -> None:
        self._s3_factory = s3_factory

    @property
    def _s3(self) -> Any:
        return self._s3_factory()

    @staticmethod
    def upload_key(domain: str, import_id: str) -> str:
        return f"imports/{domain}/{import_id}.csv"

    @staticmethod
    def report_prefix(domain: str, import_id: str) -> str:
        # Not under imports/: the bucket's notification must not hear the reports.
        return f"import-reports/{domain}/{import_id}/"

    def head(self, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        """The object's size, ETag, metadata and last change (the version asked, else the
        object at the key now); None when there is none."""
        from botocore.exceptions import ClientError

        params: dict[str, Any] = {"Bucket": get_settings().bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            answer = self._s3.head_object(**params)
        except ClientError:
            return None
        return {
            "size": int(answer.get("ContentLength", 0)),
            "etag": str(answer.get("ETag", "")).strip('"'),
            "metadata": {k.lower(): v for k, v in (answer.get("Metadata") or {}).items()},
            "last_modified": answer.get("LastModified"),
        }

    def open(self, key: str, offset: int = 0, etag: str | None = None, version_id: str | None = None) -> Any:
        """The object's bytes from `offset`, as a stream (never read whole); `version_id` (a
        versioned bucket) or `etag` pins the object the import started with: a later PUT at
        the key raises ObjectReplaced rather than be read in its place."""
        from botocore.exceptions import ClientError

        params: dict[str, Any] = {"Bucket": get_settings().bucket, "Key": key}
        if offset:
            params["Range"] = f"bytes={offset}-"
        if version_id:
            params["VersionId"] = version_id
        if etag:
            params["IfMatch"] = f'"{etag}"'  # the ETag as S3 quotes it
        try:
            return self._s3.get_object(**params)["Body"]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412"):
                raise ObjectReplaced(key) from None
            if code not in ("InvalidRange", "416") or not offset:
                raise
        # A range from the object's end (a step that ended with the file's last chunk): nothing
        # more to read, if the object is still the one the import started with.
        head = self.head(key, version_id)
        if head is None or (etag and head["etag"] != etag):
            raise ObjectReplaced(key)
        return io.BytesIO(b"")

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=get_settings().bucket, Key=key)

    def presign_put(self, key: str, expires_in: int, size: int | None, tagging: str | None = None) -> str:
        """Signs Content-Type (text/csv), with `size` Content-Length, with `tagging` (a HIPAA
        domain's) `x-amz-tagging`: S3 refuses an upload without them."""
        params: dict[str, Any] = {"Bucket": get_settings().bucket, "Key": key, "ContentType": "text/csv"}
        if size is not None:
            params["ContentLength"] = size
        if tagging:
            params["Tagging"] = tagging
        return str(self._s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in))

    def add_tags(self, key: str, version_id: str | None, tagging: str) -> bool:
        """Adds the tags of `tagging` (`k=v&k=v`) to those the object has (GetObjectTagging, then
        PutObjectTagging of the union, ours winning a key both have), unless it has them all
        already: then nothing is written. Returns whether it wrote. Twice is once."""
        bucket = get_settings().bucket
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        have = {t["Key"]: t["Value"] for t in self._s3.get_object_tagging(**params)["TagSet"]}
        wanted = have | dict(parse_qsl(tagging, keep_blank_values=True))
        if wanted == have:
            return False
        tag_set = [{"Key": k, "Value": v} for k, v in wanted.items()]
        self._s3.put_object_tagging(**params, Tagging={"TagSet": tag_set})
        return True

    def presign_get(self, key: str, filename: str, expires_in: int) -> str:
        params = {
            "Bucket": get_settings().bucket,
            "Key": key,
            "ResponseContentType": "text/csv; charset=utf-8",
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        }
        return str(self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in))

    def put_part(
        self, domain: str, import_id: str, chunk: int, body: bytes, tagging: str | None = None
    ) -> None:
        """One chunk's part of the report; with `tagging` (a HIPAA domain's), the object carries it."""
        key = f"{self.report_prefix(domain, import_id)}part-{chunk:07d}.csv"
        self._s3.put_object(
            Bucket=get_settings().bucket, Key=key, Body=body, ContentType="text/csv", **_tagged(tagging)
        )

    def join_parts(
        self, domain: str, import_id: str, chunks: int, heading: bytes, tagging: str | None = None
    ) -> str:
        """Joins the parts into `report.csv`, reading one part at a time: a report under 5 MiB
        is one PutObject; a larger one a multipart upload of parts of at least 5 MiB (S3's
        minimum). (Small reports avoid multipart also because moto
        server's /moto-api/data.json fails once a multipart upload exists.) With `tagging` (a
        HIPAA domain's), the report carries it either way."""
        bucket = get_settings().bucket
        prefix = self.report_prefix(domain, import_id)
        key = f"{prefix}report.csv"
        upload: str | None = None
        parts: list[dict[str, Any]] = []
        buffer = bytearray(heading)
        for chunk in range(chunks):
            part_key = f"{prefix}part-{chunk:07d}.csv"
            buffer += self._s3.get_object(Bucket=bucket, Key=part_key)["Body"].read()
            if len(buffer) >= MULTIPART_MIN_BYTES:
                if upload is None:
                    upload = self._s3.create_multipart_upload(
                        Bucket=bucket, Key=key, ContentType="text/csv", **_tagged(tagging)
                    )["UploadId"]
                parts.append(self._upload_part(bucket, key, upload, len(parts) + 1, bytes(buffer)))
                buffer.clear()
        if upload is None:
            self._s3.put_object(
                Bucket=bucket, Key=key, Body=bytes(buffer), ContentType="text/csv", **_tagged(tagging)
            )
        else:
            if buffer:
                parts.append(self._upload_part(bucket, key, upload, len(parts) + 1, bytes(buffer)))
            self._s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        return key

    def delete_parts(self, domain: str, import_id: str, chunks: int) -> None:
        """After the import is saved as completed: a redelivered last step can still join them."""
        bucket = get_settings().bucket
        prefix = self.report_prefix(domain, import_id)
        for start in range(0, chunks, 1000):
            objects = [{"Key": f"{prefix}part-{c:07d}.csv"} for c in range(start, min(chunks, start + 1000))]
            self._s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})

    def _upload_part(self, bucket: str, key: str, upload: str, number: int, body: bytes) -> dict[str, Any]:
        answer = self._s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)
        return {"PartNumber": number, "ETag": answer["ETag"]}


def _tagged(tagging: str | None) -> dict[str, str]:
    """The `Tagging` parameter of a PutObject or CreateMultipartUpload, when there are tags."""
    return {"Tagging": tagging} if tagging else {}
