"""The bulk-import CSV file (API.md §7) read as a stream: bytes in, validated user records and row
errors out, each with the byte position just after it so that a job can checkpoint and resume.

Pure: no AWS and no I/O besides the stream it is given. Memory does not grow with the file: the
stream is read in fixed-size chunks and only the lines of the record being parsed are held.

How the file is read
- Encoding: UTF-8 with or without a byte-order mark; UTF-16 LE or BE with a byte-order mark (or
  without one when the heading line's first character shows it: a NUL byte after or before it). A
  line of a UTF-8 file that is not valid UTF-8 is read as Windows-1252, line by line, so reading
  never needs to look ahead. UTF-32 and binary files (an Excel workbook, a PDF, NUL bytes in the
  heading line) are refused as a whole.
- Lines are split on the *encoded* line feed before they are decoded (`\\n`, or `\\n\\0` / `\\0\\n`
  at an even offset in UTF-16), so every offset is exact in every encoding. A file whose first line
  ends in a lone carriage return (old Mac spreadsheets) is split on carriage returns instead; a
  trailing carriage return (CRLF) is dropped.
- The separator is taken from the heading line: comma, semicolon or tab, whichever occurs most
  outside double quotes; a comma wins ties.
- Fields are split by the standard csv module, after each line's boundary quotes are normalised.
  A field may be quoted with `"` (a doubled `""` inside is one quote; such a field may span lines;
  text after the closing quote is kept, as the csv module does). Typographic quotes (“ ” „ ‚ ‘ ’ ″)
  quote a field only at its boundaries: as its first non-space character, closed by one of them
  (or `"`) that is the last character before the separator or the end of the line (spaces
  allowed); such a pair is rewritten as `"` quotes before the csv module reads the line, so they
  never span lines. Typographic quotes anywhere else, and everything inside `"` quotes, are read
  as they are: the help article's `”(+91)1234123411″` is quoted and O’Brien keeps its apostrophe.
  Whitespace before a field is skipped and every value is trimmed.
- The heading line is the first line that is not blank (line 1, unless blank lines come first).
  Headings are matched without regard to case, spaces or punctuation, or to a remark in brackets
  ("Email Address [Required]"), with a few common aliases besides API.md's (Given Name, Surname,
  Phone Number...). A heading nobody knows is reported (`unknown_heading`) and its column
  ignored; a known heading given twice is read from its first column only and the later one is
  reported (`duplicate_heading`); an empty heading cell is ignored silently (spreadsheets export
  trailing empty columns). No Email column makes the whole file unusable.
- A blank line (only whitespace; a line of only separators is a row) is skipped; line numbers
  stay the file's own (the heading line is line 1). Every other row must have exactly as many
  fields as there are headings.
- A line longer than `MAX_LINE_BYTES` is skipped and reported (`line_too_long`); a quote that is
  not closed within `MAX_RECORD_LINES` lines / `MAX_RECORD_BYTES` bytes, or by the end of the file,
  is reported on the line that opened it (`unterminated_quote`) and reading goes on with the line
  after that one.

Duplicates ("an email already seen earlier in the file: the first row wins") are the caller's
job: across a resume they cannot be found without remembering every email. `flag_duplicates`
applies the rule given a mapping of the emails seen so far (a dict, or one backed by the import's
store), and `duplicate_email_error` words the error for callers that check on their own.

To resume, read the heading again (`read_heading` on a stream from offset 0: it is deterministic)
and call `read_records` with a stream opened at the saved `Position.offset`.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, NamedTuple, Protocol, TypeAlias

from chalicelib.core.errors import InvalidField
from chalicelib.domain import rules
from chalicelib.domain.models import Role

CHUNK_SIZE: Final = 64 * 1024
MAX_HEADING_BYTES: Final = 64 * 1024
MAX_LINE_BYTES: Final = 1024 * 1024
MAX_RECORD_LINES: Final = 100
MAX_RECORD_BYTES: Final = 1024 * 1024
GIVEN_EMAIL_CHARS: Final = 320  # of an Email cell kept as given (RFC 3696's longest address)


class ByteStream(Protocol):
    """What the reader needs of a stream: `io.BytesIO`, an open binary file, botocore's
    StreamingBody. `read` returns b"" at the end."""

    def read(self, size: int, /) -> bytes: ...


class Field(StrEnum):
    EMAIL = "email"
    NAME = "name"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    TITLE = "title"
    PHONE = "phone"
    DEPARTMENT = "department"
    ROLE = "role"
    ENABLED = "enabled"


class Encoding(StrEnum):
    UTF_8 = "utf-8"
    UTF_8_BOM = "utf-8-sig"
    CP1252 = "cp1252"  # the heading line was not UTF-8; lines are still read as UTF-8 when they are
    UTF_16_LE = "utf-16-le"
    UTF_16_BE = "utf-16-be"


LABELS: Final = {
    Field.EMAIL: "Email",
    Field.NAME: "Name",
    Field.FIRST_NAME: "First Name",
    Field.LAST_NAME: "Last Name",
    Field.TITLE: "Title",
    Field.PHONE: "Phone",
    Field.DEPARTMENT: "Department",
    Field.ROLE: "Role",
    Field.ENABLED: "Enabled",
}

MAX_LENGTHS: Final = {
    Field.EMAIL: rules.MAX_EMAIL_LENGTH,
    Field.NAME: 100,
    Field.FIRST_NAME: 100,
    Field.LAST_NAME: 100,
    Field.TITLE: 100,
    Field.PHONE: 40,
    Field.DEPARTMENT: 100,
}

# Headings as `_heading_key` leaves them: casefolded, letters and digits only.
HEADINGS: Final = {
    "email": Field.EMAIL,
    "emailaddress": Field.EMAIL,
    "name": Field.NAME,
    "fullname": Field.NAME,
    "displayname": Field.NAME,
    "firstname": Field.FIRST_NAME,
    "givenname": Field.FIRST_NAME,
    "lastname": Field.LAST_NAME,
    "surname": Field.LAST_NAME,
    "familyname": Field.LAST_NAME,
    "title": Field.TITLE,
    "jobtitle": Field.TITLE,
    "phone": Field.PHONE,
    "phonenumber": Field.PHONE,
    "mobile": Field.PHONE,
    "mobilephone": Field.PHONE,
    "mobilenumber": Field.PHONE,
    "department": Field.DEPARTMENT,
    "role": Field.ROLE,
    "enabled": Field.ENABLED,
}

ENABLED_VALUES: Final = {
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
}


@dataclass(frozen=True)
class UserRecord:
    """A valid row. `values` holds the row's non-empty, trimmed text fields (Name, First Name,
    Last Name, Title, Phone, Department); when a row gives a Name but neither First nor Last
    Name, they are made from it (first word / the rest). Role and Enabled are parsed into
    `role` and `enabled` (None: blank or no such column)."""

    line: int
    email: str
    values: dict[Field, str] = field(default_factory=dict)
    role: Role | None = None
    enabled: bool | None = None
    given_email: str = field(default="", compare=False)  # the Email cell as the file gave it


def email_as_given(value: str) -> str:
    """An Email cell as the file gave it (trimmed), kept for the report: cut to GIVEN_EMAIL_CHARS
    (a cell can be as long as a line), ending in "…" when cut."""
    value = value.strip()
    return value if len(value) <= GIVEN_EMAIL_CHARS else value[: GIVEN_EMAIL_CHARS - 1] + "…"


@dataclass(frozen=True)
class RowError:
    line: int
    code: str
    message: str
    email: str = ""  # the row's normalized email, when it has a valid one
    given_email: str = field(default="", compare=False)  # its Email cell as given, valid or not


Outcome: TypeAlias = UserRecord | RowError


@dataclass(frozen=True)
class Heading:
    fields: tuple[Field | None, ...]  # per column; None: a column that is not read
    delimiter: str
    encoding: Encoding
    newline: str = "\n"  # "\r" for a file of lone carriage returns
    line: int = 1
    errors: tuple[RowError, ...] = ()  # unknown_heading / duplicate_heading, on the heading's line


@dataclass(frozen=True)
class Position:
    """Where the next unread record starts: its first byte in the file and its line number."""

    offset: int
    line: int


class CsvFileError(Exception):
    """The file as a whole cannot be read: `empty_file`, `not_a_text_file`, `unsupported_encoding`,
    `heading_too_long` or `missing_email_heading`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- public functions ------------------------------------------------------------------------


def read_heading(stream: ByteStream, *, chunk_size: int = CHUNK_SIZE) -> tuple[Heading, Position]:
    """Reads the heading line of a stream opened at the file's first byte. It may read beyond the
    heading: records are read with `read_records` from a new stream opened at the returned
    position (or use `read_file` to go on with the same stream)."""
    heading, position, _ = _open(stream, chunk_size)
    return heading, position


def read_records(
    stream: ByteStream, heading: Heading, start: Position, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[Outcome, Position]]:
    """Every data row's outcome from a stream opened at `start.offset`, each with the position
    just after it: a checkpoint from which a later stream goes on with the next row."""
    if heading.encoding in _UTF_16 and start.offset % 2:
        raise ValueError(f"a UTF-16 file's records start at an even offset, not {start.offset}")
    reader = _LineReader(stream, heading.encoding, heading.newline, start, chunk_size)
    return _records(reader, heading)


def read_file(
    stream: ByteStream, *, chunk_size: int = CHUNK_SIZE
) -> tuple[Heading, Iterator[tuple[Outcome, Position]]]:
    """The heading and then every row of a stream opened at the file's first byte."""
    heading, _, reader = _open(stream, chunk_size)
    return heading, _records(reader, heading)


def duplicate_email_error(record: UserRecord, first_line: int) -> RowError:
    return RowError(
        record.line,
        "duplicate_email",
        f"The Email {record.email} was already given on line {first_line}; only that first row is imported.",
        record.email,
    )


def flag_duplicates(
    outcomes: Iterable[tuple[Outcome, Position]], seen: MutableMapping[str, int]
) -> Iterator[tuple[Outcome, Position]]:
    """Turns a record whose email an earlier row gave into a `duplicate_email` error: the first
    row wins. `seen` maps each email to the line it was first given on and is updated; a dict
    grows with the file, so a job that resumes passes a mapping backed by its store. A row read
    again after a resume (same line) is not a duplicate of itself."""
    for outcome, position in outcomes:
        if isinstance(outcome, UserRecord):
            first_line = seen.get(outcome.email)
            if first_line is None:
                seen[outcome.email] = outcome.line
            elif first_line != outcome.line:
                yield duplicate_email_error(outcome, first_line), position
                continue
        yield outcome, position


# --- bytes to lines --------------------------------------------------------------------------

_UTF_16: Final = (Encoding.UTF_16_LE, Encoding.UTF_16_BE)
_BOMS: Final = (
    (b"\xff\xfe\x00\x00", None),  # UTF-32 LE: refused
    (b"\x00\x00\xfe\xff", None),  # UTF-32 BE: refused
    (b"\xef\xbb\xbf", Encoding.UTF_8_BOM),
    (b"\xff\xfe", Encoding.UTF_16_LE),
    (b"\xfe\xff", Encoding.UTF_16_BE),
)
_NOT_TEXT: Final = (
    (b"PK\x03\x04", "a spreadsheet workbook (.xlsx) or another zip file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip file"),
)
_SAVE_AS_CSV: Final = "In the spreadsheet program, save it as CSV (UTF-8) and upload that file."
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _Line(NamedTuple):
    text: str | None  # None: longer than the limit; its bytes were skipped
    number: int
    start: int
    end: int  # the offset just after its line ending


def _codec(encoding: Encoding) -> str:
    return encoding.value if encoding in _UTF_16 else "utf-8"


class _LineReader:
    """Physical lines of a stream, with their exact byte offsets, holding at most one line and
    one chunk."""

    def __init__(
        self,
        stream: ByteStream,
        encoding: Encoding,
        newline: str,
        start: Position,
        chunk_size: int,
        buffer: bytes = b"",
    ) -> None:
        if chunk_size < 2:
            raise ValueError("chunk_size must be at least 2")
        self._stream = stream
        self._chunk_size = chunk_size
        self._codec = _codec(encoding)
        self._utf16 = encoding in _UTF_16
        self._step = 2 if self._utf16 else 1
        self._newline = newline.encode(self._codec)
        self._strip_cr = newline == "\n"
        self._buf = buffer
        self._pos = 0  # the current line's first byte in _buf
        self._base = start.offset  # the file offset of _buf[0]
        self._number = start.line
        self._eof = False
        self.fallbacks = 0  # lines read as Windows-1252

    def next_line(self, limit: int | None = None) -> _Line | None:
        end = self._find_end(MAX_LINE_BYTES if limit is None else limit)
        if end is None:
            return self._skip_long_line()
        if end < 0:
            return None
        raw = self._buf[self._pos : end]
        after = end + len(self._newline) if end < len(self._buf) else end
        line = _Line(self._decode(raw), self._number, self._base + self._pos, self._base + after)
        self._pos = after
        self._number += 1
        return line

    def peek_too_long(self, limit: int) -> bool:
        """Whether the next line is longer than `limit`, reading no further than needed."""
        return self._find_end(limit) is None

    def _find_end(self, limit: int) -> int | None:
        """The index in _buf of the current line's newline (or of the end of the data when the
        last line has none); -1 at the end of the stream; None past `limit` bytes."""
        search = self._pos
        while True:
            index = self._buf.find(self._newline, search)
            while index != -1 and (index - self._pos) % self._step:
                index = self._buf.find(self._newline, index + 1)
            if index != -1:
                return None if index - self._pos > limit else index
            if len(self._buf) - self._pos >= limit + len(self._newline):
                return None  # no room left for the newline within the limit
            if self._eof:
                return len(self._buf) if self._pos < len(self._buf) else -1
            # A UTF-16 newline may start at an odd last byte and end in the next chunk.
            search = len(self._buf) - (len(self._buf) - self._pos) % self._step
            search -= self._fill()

    def _fill(self) -> int:
        """Drops the bytes before the current line, reads a chunk; returns how many were dropped."""
        dropped = self._pos
        if dropped:
            self._buf = self._buf[dropped:]
            self._base += dropped
            self._pos = 0
        chunk = self._stream.read(self._chunk_size)
        if chunk:
            self._buf += chunk
        else:
            self._eof = True
        return dropped

    def _skip_long_line(self) -> _Line:
        start = self._base + self._pos
        number = self._number
        while True:
            index = self._buf.find(self._newline, self._pos)
            while index != -1 and (index - self._pos) % self._step:
                index = self._buf.find(self._newline, index + 1)
            if index != -1:
                self._pos = index + len(self._newline)
                break
            if self._eof:
                self._pos = len(self._buf)
                break
            # Keep an odd trailing byte of UTF-16 so that the newline's alignment holds.
            self._pos = len(self._buf) - (len(self._buf) - self._pos) % self._step
            self._fill()
        self._number += 1
        return _Line(None, number, start, self._base + self._pos)

    def _decode(self, raw: bytes) -> str:
        if self._utf16:
            text = raw.decode(self._codec, errors="replace")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.fallbacks += 1
                text = raw.decode("cp1252", errors="replace")
        if self._strip_cr and text.endswith("\r"):
            return text[:-1]
        return text


def _read_start(stream: ByteStream, chunk_size: int) -> bytes:
    """The first chunks, enough to see the byte-order mark and how the first line ends."""
    data = b""
    while len(data) <= MAX_HEADING_BYTES and not _sees_line_end(data):
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        data += chunk
    return data


def _sees_line_end(data: bytes) -> bool:
    """Whether `data` holds the first CR or LF byte and the character after it, in any encoding."""
    ends = [index for index in (data.find(b"\n"), data.find(b"\r")) if index != -1]
    return bool(ends) and min(ends) + 4 <= len(data)


def _sniff(data: bytes) -> tuple[Encoding, int]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            if encoding is None:
                raise CsvFileError("unsupported_encoding", f"The file is in UTF-32. {_SAVE_AS_CSV}")
            return encoding, len(bom)
    for magic, kind in _NOT_TEXT:
        if data.startswith(magic):
            raise CsvFileError("not_a_text_file", f"The file is {kind}, not a CSV file. {_SAVE_AS_CSV}")
    if len(data) >= 2 and data[0] and not data[1]:
        return Encoding.UTF_16_LE, 0
    if len(data) >= 2 and not data[0] and data[1]:
        return Encoding.UTF_16_BE, 0
    return Encoding.UTF_8, 0


def _sniff_newline(data: bytes, encoding: Encoding) -> str:
    """A lone carriage return ending the first line means the file's lines end that way."""
    if encoding in _UTF_16:
        data = data[: len(data) - len(data) % 2]
    text = data.decode(_codec(encoding), errors="replace")
    cr, lf = text.find("\r"), text.find("\n")
    if cr != -1 and (lf == -1 or cr < lf) and cr + 1 < len(text) and text[cr + 1] != "\n":
        return "\r"
    return "\n"


def _open(stream: ByteStream, chunk_size: int) -> tuple[Heading, Position, _LineReader]:
    data = _read_start(stream, chunk_size)
    if not data:
        raise CsvFileError("empty_file", "The file is empty; its first line must name the fields.")
    encoding, bom = _sniff(data)
    newline = _sniff_newline(data[bom:], encoding)
    reader = _LineReader(stream, encoding, newline, Position(bom, 1), chunk_size, data[bom:])
    line = _heading_line(reader)
    text = line.text or ""
    if _CONTROL.search(text):
        raise CsvFileError("not_a_text_file", f"The file is not a text file. {_SAVE_AS_CSV}")
    if encoding is Encoding.UTF_8 and reader.fallbacks:
        encoding = Encoding.CP1252
    delimiter = _sniff_delimiter(text)
    fields, errors = _match_headings(_split_heading(text, delimiter), line.number)
    heading = Heading(tuple(fields), delimiter, encoding, newline, line.number, tuple(errors))
    return heading, Position(line.end, line.number + 1), reader


def _heading_line(reader: _LineReader) -> _Line:
    """The first line that is not blank."""
    while True:
        if reader.peek_too_long(MAX_HEADING_BYTES):
            raise CsvFileError(
                "heading_too_long",
                f"The first line is longer than {MAX_HEADING_BYTES // 1024} KiB; is this a CSV file? "
                + _SAVE_AS_CSV,
            )
        line = reader.next_line(MAX_HEADING_BYTES)
        if line is None:
            raise CsvFileError("empty_file", "The file has no lines; its first line must name the fields.")
        if line.text and line.text.strip():
            return line


def _sniff_delimiter(text: str) -> str:
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(counts, key=counts.__getitem__)  # the first of equals: comma, then semicolon


def _heading_key(name: str) -> str:
    return "".join(char for char in name.casefold() if char.isalnum())


_REMARK: Final = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def _known_heading(name: str) -> Field | None:
    """A heading's field; a remark in brackets counts only when the heading is not known with it
    ("Email Address [Required]", "Phone (work)")."""
    return HEADINGS.get(_heading_key(name)) or HEADINGS.get(_heading_key(_REMARK.sub("", name)))


def _match_headings(names: list[str], line: int) -> tuple[list[Field | None], list[RowError]]:
    fields: list[Field | None] = []
    errors: list[RowError] = []
    columns: dict[Field, int] = {}
    for column, raw in enumerate(names, start=1):
        name = raw.strip()
        known = _known_heading(name)
        if not name:
            fields.append(None)
        elif known is None:
            fields.append(None)
            errors.append(
                RowError(
                    line,
                    "unknown_heading",
                    f'The heading "{_shown(name)}" (column {column}) is not a known field; '
                    "that column is ignored.",
                )
            )
        elif known in columns:
            fields.append(None)
            errors.append(
                RowError(
                    line,
                    "duplicate_heading",
                    f'The heading "{_shown(name)}" (column {column}) repeats the {LABELS[known]} '
                    f"field of column {columns[known]}; only that first column is read.",
                )
            )
        else:
            columns[known] = column
            fields.append(known)
    if Field.EMAIL not in columns:
        found = ", ".join(f'"{_shown(name.strip(), 40)}"' for name in names[:10] if name.strip())
        raise CsvFileError(
            "missing_email_heading",
            "The first line must name the fields, one of them Email; "
            + (f"it names {found}." if found else "it names none."),
        )
    return fields, errors


# --- lines to fields -------------------------------------------------------------------------

_TYPOGRAPHIC: Final = "“”„‚‘’″"
_QUOTE_CHARS: Final = '"' + _TYPOGRAPHIC
# The rest of a `"`-quoted field up to and with its closing quote (a doubled `""` is one quote).
_CLOSING: Final = re.compile(r'(?:[^"]++|"")*+"')
# csv.reader ends a record at any CR or LF outside quotes; a line's own (a CR inside a line of a
# CRLF file, an LF inside a line of a CR file) stand in for themselves as lone surrogates, which
# no decoded line holds (UTF-8 and UTF-16 refuse them, Windows-1252 has none).
_CR: Final = "\ud800"
_LF: Final = "\ud801"
_STRAY_NEWLINE: Final = str.maketrans({"\r": _CR, "\n": _LF})
# A line with none of these goes to csv.reader as it is (a cheap first look; see _Quotes._special).
_SPECIAL: Final = re.compile(f'[\r\n"{_TYPOGRAPHIC}]').search

# A field is at most a line or a record long (in characters, which are no more than its bytes);
# csv.reader's default limit (128 Ki characters, for the whole process) is lower. Only raised.
_FIELD_LIMIT: Final = 2 * max(MAX_LINE_BYTES, MAX_RECORD_BYTES)
if csv.field_size_limit() < _FIELD_LIMIT:
    csv.field_size_limit(_FIELD_LIMIT)


class _Quotes:
    """Rewrites a physical line so that csv.reader (`"` quotes, `""` for one, a space after a
    separator skipped) splits it as the module's doc says: a field quoted with typographic quotes
    (an opening one first in the field, a closing one or `"` last before the separator or the end
    of the line) is quoted with `"` instead, and any whitespace before a field's opening quote is
    dropped (csv.reader skips only spaces). Typographic quotes anywhere else, and everything inside
    `"` quotes, are left alone. Lines with no quote and no odd whitespace or line break pass as
    they are."""

    def __init__(self, delimiter: str) -> None:
        self.sep = delimiter
        sep = re.escape(delimiter)
        tab = delimiter == "\t"
        # Whitespace before a field (any but the separator), and after a closing quote.
        space, blank = (r"[^\S\t]", " ") if tab else (r"\s", " \t")
        not_a_space = r"[^\S\t ]" if tab else r"[^\S ]"
        # What csv.reader would read otherwise: a typographic quote, a line break of the line's
        # own, whitespace other than spaces before a quote.
        self._check = re.compile(f'[\r\n{_TYPOGRAPHIC}]|{not_a_space} *"').search
        # A field, with the separator before it (none for the first): `"`-quoted, closed (with
        # any text after the closing quote) or not (it goes on on the next line); or quoted with
        # a typographic quote closed by the first quote that is the last character before the
        # separator or the end of the line (spaces allowed). Other fields are skipped: matches
        # start only where a field does, and take along the separators within a field.
        self._field = re.compile(
            f'(?P<sep>^|{sep}){space}*(?:(?P<quoted>"(?:[^"]++|"")*+(?:"[^{sep}]*|\\Z))'
            f"|[{_TYPOGRAPHIC}](?P<typographic>.*?)[{_QUOTE_CHARS}][{blank}]*(?={sep}|\\Z))",
            re.DOTALL,
        )
        self.stray = False  # a rewritten line held a CR or LF of its own: see _restore

    def first(self, text: str) -> str:
        """A record's first line, for csv.reader (without a line ending)."""
        if not self._special(text):
            return text
        return self._mark(self._fields(text))

    def more(self, text: str) -> str:
        """A line that goes on with a `"`-quoted field of the line before."""
        if not self._special(text):
            return text
        closing = _CLOSING.match(text)
        end = -1 if closing is None else text.find(self.sep, closing.end())
        return self._mark(text if end == -1 else text[: end + 1] + self._fields(text[end + 1 :]))

    def _special(self, text: str) -> bool:
        """Whether csv.reader would read the line otherwise than the module's doc says."""
        found = _SPECIAL(text)
        return found is not None and (found.group() != '"' or self._check(text) is not None)

    def _fields(self, text: str) -> str:
        """`text`, which starts with a field, its fields' quotes rewritten."""
        return self._field.sub(_rewrite, text)

    def _mark(self, text: str) -> str:
        if "\r" in text or "\n" in text:
            self.stray = True
            return text.translate(_STRAY_NEWLINE)
        return text


def _rewrite(field: re.Match[str]) -> str:
    sep, quoted, typographic = field.group("sep", "quoted", "typographic")
    if quoted is not None:
        return sep + quoted  # without the whitespace before it
    return sep + '"' + typographic.replace('"', '""') + '"'


def _restore(values: list[str]) -> list[str]:
    return [value.replace(_CR, "\r").replace(_LF, "\n") for value in values]


def _csv_reader(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    return csv.reader(
        lines, delimiter=delimiter, quotechar='"', doublequote=True, skipinitialspace=True, strict=False
    )


def _split_heading(text: str, delimiter: str) -> list[str]:
    """The heading line's fields; a quote left open ends at the end of the line."""
    quotes = _Quotes(delimiter)
    values = next(_csv_reader([quotes.first(text)], delimiter), [])
    return _restore(values) if quotes.stray else values


# --- fields to records -----------------------------------------------------------------------


def _records(reader: _LineReader, heading: Heading) -> Iterator[tuple[Outcome, Position]]:
    quotes = _Quotes(heading.delimiter)
    pending: deque[_Line] = deque()  # lines to read again after an unterminated quote
    lines: list[_Line] = []  # the physical lines of the record csv.reader is reading
    reading = False  # csv.reader has not returned that record yet
    runaway = False  # its quote was closed by force: not closed within the limits

    def texts() -> Iterator[str]:
        """The lines csv.reader reads. It asks for one more before it returns a record only inside
        a `"`-quoted field; once the quote runs too long (lines, bytes, a line too long, the end
        of the file) it gets a closing quote instead, and those lines are read again."""
        nonlocal lines, reading, runaway
        tab_separated = heading.delimiter == "\t"
        while True:
            if not reading:
                line = pending.popleft() if pending else reader.next_line()
                if line is None:
                    return
                text = line.text
                if text is not None and not text.strip() and not (tab_separated and "\t" in text):
                    continue  # a blank line
                lines = [line]
                reading, runaway, quotes.stray = True, False, False
                if text is None:
                    yield ""  # too long: csv.reader returns an empty record
                elif _SPECIAL(text) is None:
                    yield text + "\n"
                else:
                    yield quotes.first(text) + "\n"
                continue
            more = pending.popleft() if pending else reader.next_line()
            if more is not None:
                lines.append(more)
            if (
                more is None
                or more.text is None
                or len(lines) > MAX_RECORD_LINES
                or more.end - lines[0].start > MAX_RECORD_BYTES
            ):
                runaway = True
                yield '"\n'  # closes the quoted field, and with it the record
            else:
                yield quotes.more(more.text) + "\n"

    for row in _csv_reader(texts(), heading.delimiter):
        reading = False
        first = lines[0]
        if runaway:
            pending.extendleft(reversed(lines[1:]))
            yield _unterminated(first), Position(first.end, first.number + 1)
        elif first.text is None:
            yield _too_long(first), Position(first.end, first.number + 1)
        else:
            values = _restore(row) if quotes.stray else row
            last = lines[-1]
            yield _validate(values, first.number, heading), Position(last.end, last.number + 1)


def _too_long(line: _Line) -> RowError:
    return RowError(
        line.number,
        "line_too_long",
        f"The line is longer than {MAX_LINE_BYTES // 1024} KiB; it is skipped.",
    )


def _unterminated(line: _Line) -> RowError:
    return RowError(
        line.number,
        "unterminated_quote",
        "A field of this line opens a quote that is not closed; the line is skipped.",
    )


def _validate(values: list[str], line: int, heading: Heading) -> Outcome:
    """The row's record or error, carrying its Email cell as given (for a row of the wrong
    field count, the cell in the Email heading's column, if the row has one)."""
    outcome = _check_row(values, line, heading)
    column = heading.fields.index(Field.EMAIL)
    given = email_as_given(values[column]) if column < len(values) else ""
    return replace(outcome, given_email=given) if given else outcome


def _check_row(values: list[str], line: int, heading: Heading) -> Outcome:
    if len(values) != len(heading.fields):
        return RowError(
            line,
            "wrong_field_count",
            f"Expected {len(heading.fields)} fields, one for each heading, but found {len(values)}.",
        )
    found: dict[Field, str] = {}
    for name, raw in zip(heading.fields, values, strict=True):
        if name is not None and (value := raw.strip()):
            found[name] = value
    email = _check_email(line, found.pop(Field.EMAIL, ""))
    if isinstance(email, RowError):
        return email
    for name, value in found.items():
        if (error := _check_length(line, name, value, email)) is not None:
            return error
    role_text, enabled_text = found.pop(Field.ROLE, ""), found.pop(Field.ENABLED, "")
    role = _ROLES.get(role_text.casefold()) if role_text else None
    if role_text and role is None:
        return RowError(
            line,
            "invalid_role",
            f'The Role field "{_shown(role_text)}" is not a role; use admin, member or guest, '
            "or leave it blank.",
            email,
        )
    enabled = ENABLED_VALUES.get(enabled_text.casefold()) if enabled_text else None
    if enabled_text and enabled is None:
        return RowError(
            line,
            "invalid_enabled",
            f'The Enabled field "{_shown(enabled_text)}" is neither TRUE nor FALSE (yes/no, y/n and '
            "1/0 also do); leave it blank to leave the user's state alone.",
            email,
        )
    full_name = found.get(Field.NAME)
    if full_name and Field.FIRST_NAME not in found and Field.LAST_NAME not in found:
        first, *rest = full_name.split(maxsplit=1)
        found[Field.FIRST_NAME] = first
        if rest:
            found[Field.LAST_NAME] = rest[0]
    return UserRecord(line, email, found, role, enabled)


_ROLES: Final = {role.value: role for role in Role}


def _check_email(line: int, value: str) -> str | RowError:
    if not value:
        return RowError(line, "missing_email", "The Email field is empty; every user needs one.")
    if (error := _check_length(line, Field.EMAIL, value, "")) is not None:
        return error
    try:
        email = rules.normalize_email(value)
    except InvalidField:
        email = ""
    if not email or _CONTROL.search(email):
        return RowError(line, "invalid_email", f'The Email field "{_shown(value)}" is not an email address.')
    return email


def _check_length(line: int, name: Field, value: str, email: str) -> RowError | None:
    limit = MAX_LENGTHS.get(name)
    if limit is None or len(value) <= limit:
        return None
    return RowError(
        line,
        "field_too_long",
        f"The {LABELS[name]} field is {len(value)} characters long; at most {limit} are allowed.",
        email,
    )


def _shown(value: str, limit: int = 60) -> str:
    """A value quoted in a message: one line, and cut short when long."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"
