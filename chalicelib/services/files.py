"""§5 Files: an upload is a presigned S3 PUT bound to the declared size and type; a download is
a short-lived presigned GET, for the uploader and for whoever can see a message carrying the
file (a member of its group, or one of the two users of its private chat). To anyone else the
file does not exist (404), as it does not for another domain."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.core import ids
from chalicelib.core.clock import Clock
from chalicelib.core.config import Settings, get_settings
from chalicelib.core.errors import InvalidField, NotFound, PayloadTooLarge
from chalicelib.domain.models import Conversation, ConversationKind, File, Principal, expired
from chalicelib.repositories.files import FileRepository, ObjectStore, object_key
from chalicelib.repositories.groups import GroupRepository

MAX_FILENAME = 255
MAX_CONTENT_TYPE = 200
MAX_FILES_PER_MESSAGE = 10
_WORD = r"[A-Za-z0-9!#$&^_.+-]+"  # an RFC 9110 token, less the characters no media type uses
CONTENT_TYPE = re.compile(rf"^{_WORD}/{_WORD}(\s*;\s*{_WORD}=(?:{_WORD}|\"[^\"\\]*\"))*$")


def check_content_type(value: str) -> str:
    """A media type as the client will send it in the upload's Content-Type header (it is
    signed into the URL, so it must be exactly this string): `type/subtype`, parameters allowed."""
    if len(value) > MAX_CONTENT_TYPE or not CONTENT_TYPE.match(value):
        raise InvalidField("content_type", "is not a media type such as image/png", "invalid_content_type")
    return value


def check_size(size: int, max_bytes: int) -> int:
    if size > max_bytes:
        raise PayloadTooLarge(f"size: a file may be at most {max_bytes} bytes.", "payload_too_large")
    return size


def check_file_ids(file_ids: list[str]) -> list[str]:
    """A message's `file_ids`: at most 10, each once (repeats are dropped, order kept)."""
    unique = list(dict.fromkeys(file_ids))
    if len(unique) > MAX_FILES_PER_MESSAGE:
        raise InvalidField("file_ids", f"may name at most {MAX_FILES_PER_MESSAGE} files", "too_many_files")
    return unique


def can_see(conversation: Conversation, user_id: str, member_of: set[str]) -> bool:
    if conversation.kind is ConversationKind.CHAT:
        return conversation.user_ids is not None and user_id in conversation.user_ids
    return conversation.group_id in member_of


@dataclass(frozen=True)
class UploadTicket:
    file: File
    url: str
    expires_at: datetime
    headers: dict[str, str]
    tagging: str | None = None  # the object's tags, which the upload must send (x-amz-tagging)


@dataclass(frozen=True)
class DownloadTicket:
    file: File
    url: str
    expires_at: datetime


class FileService:
    def __init__(
        self,
        files: FileRepository,
        store: ObjectStore,
        groups: GroupRepository,
        clock: Clock,
        settings: Callable[[], Settings] = get_settings,
    ) -> None:
        self._files = files
        self._store = store
        self._groups = groups
        self._clock = clock
        self._settings = settings

    def create_upload(
        self, principal: Principal, filename: str, content_type: str, size: int
    ) -> UploadTicket:
        settings = self._settings()
        check_content_type(content_type)
        check_size(size, settings.max_upload_bytes)
        now = self._clock.now()
        file_id = ids.new_id()
        file = File(
            id=file_id,
            domain=principal.domain,
            owner_id=principal.user.id,
            filename=filename,
            content_type=content_type,
            size=size,
            s3_key=object_key(principal.domain, file_id, filename),
            created_at=now,
            expires_at=principal.retention.upload_expires_at(now),
            pending=True,
        )
        self._files.create(file)
        tagging = principal.retention.upload_tagging
        url = self._store.presign_put(file.s3_key, content_type, size, settings.presign_seconds, tagging)
        expires_at = now + timedelta(seconds=settings.presign_seconds)
        return UploadTicket(file, url, expires_at, {"Content-Type": content_type}, tagging)

    def download(self, principal: Principal, file_id: str) -> DownloadTicket:
        """One Query (the file and where it was posted), at most one BatchGetItem (the caller's
        memberships of those groups), no S3 call (the URL is signed locally)."""
        file, conversations = (
            self._files.get_with_conversations(principal.domain, file_id)
            if ids.is_id(file_id)
            else (None, [])
        )
        if (
            file is None
            or expired(file.expires_at, self._clock.now())  # TTL may lag by days
            or not self._may_download(principal, file, conversations)
        ):
            raise NotFound("There is no such file, or you cannot see it.", "file_not_found")
        seconds = self._settings().presign_seconds
        url = self._store.presign_get(file.s3_key, file.filename, seconds)
        return DownloadTicket(file, url, self._clock.now() + timedelta(seconds=seconds))

    def _may_download(self, principal: Principal, file: File, conversations: list[Conversation]) -> bool:
        me = principal.user.id
        if file.owner_id == me or any(can_see(c, me, set()) for c in conversations):
            return True
        group_ids = [c.group_id for c in conversations if c.group_id is not None]
        if not group_ids:
            return False
        member_of = self._groups.member_of(principal.domain, me, group_ids)
        return any(can_see(c, me, member_of) for c in conversations)

    def attachable(self, principal: Principal, file_ids: list[str]) -> list[File]:
        """The files a message of the caller may carry: uploaded by the caller, in this domain,
        and present in S3 with the declared size (one BatchGetItem, one HeadObject a file).
        Anything else answers 400, naming nothing about other users' files."""
        if not file_ids:
            return []
        found = self._files.get_many(principal.domain, [f for f in file_ids if ids.is_id(f)])
        files = []
        for file_id in file_ids:
            file = found.get(file_id)
            if (
                file is None
                or file.owner_id != principal.user.id
                or expired(file.expires_at, self._clock.now())  # a pending file: a day after upload
            ):
                raise InvalidField("file_ids", f"{file_id!r} is not a file you uploaded", "invalid_file")
            files.append(file)
        for file in files:
            if self._store.stored_size(file.s3_key) != file.size:
                raise InvalidField(
                    "file_ids", f"{file.id!r} has not been uploaded (completely) yet", "file_not_uploaded"
                )
        return files

    def attach(self, principal: Principal, files: list[File]) -> list[File]:
        """The pending files among `attachable`'s, as the first message that carries them leaves
        them: their objects lose the pending tag now (one S3 call a file: the domain's tags stay,
        or none), and the returned records (kept as the domain keeps content, from their upload)
        are for the message's transaction to write (FileRepository.attached_op).

        Called after every check of the message, before its transaction commits: a committed
        message never carries an object that S3's lifecycle will delete; a transaction that fails
        after this leaves at worst an object without a tag, whose record still expires a day after
        the upload (docs/DECISIONS.md, issue 17). A file already attached lost its pending tag
        then: it costs no call. Two messages attaching one file at once both tag it the same way."""
        attached = []
        for file in files:
            if not file.pending:
                continue
            self._store.set_tags(file.s3_key, principal.retention.object_tagging)
            attached.append(
                replace(file, pending=False, expires_at=principal.retention.expires_at(file.created_at))
            )
        return attached
