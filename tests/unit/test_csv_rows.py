"""Reading CSV uploads: a row too long is one bad row; every other row reads as csv reads it."""

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.domain.errors import Invalid
from tessera.services import csv_files
from tessera.services.csv_files import TooLong, read_csv


def rows_of(data: bytes):
    header, records = read_csv(io.BytesIO(data))
    return header, list(records)


def reference(text: str, limit: int):
    """What the rows must be: csv's own records, a record whose text (its last line end
    left out) is longer than the limit replaced by TooLong."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines), strict=True)
    out, start = [], 0
    for fields in reader:
        raw = "".join(lines[start : reader.line_num])
        start = reader.line_num
        size = len(raw) - (2 if raw.endswith("\r\n") else 1 if raw.endswith(("\n", "\r")) else 0)
        if size > limit:
            out.append((reader.line_num, TooLong()))
        elif fields:
            out.append((reader.line_num, fields))
    return out


def test_a_row_longer_than_the_limit_is_one_bad_row_and_the_next_rows_read_on():
    long = "x" * (10 * 1024 * 1024)
    data = f'code,description\nA1,ok\n{long},too long\nA2,"multi\nline"\nA3,{long}\nA4,\n'
    header, rows = rows_of(data.encode())
    assert header == ["code", "description"]
    assert rows == [
        (2, ["A1", "ok"]),
        (3, TooLong()),
        (5, ["A2", "multi\nline"]),
        (6, TooLong()),
        (7, ["A4", ""]),
    ]


def test_a_row_of_exactly_the_limit_is_read_and_one_more_character_is_too_long():
    exact = "y" * csv_files.ROW_MAX
    for ending in ("\n", "\r\n", "\r"):
        data = f"code{ending}{exact}{ending}{exact}z{ending}B{ending}".encode()
        assert rows_of(data)[1] == [(2, [exact]), (3, TooLong()), (4, ["B"])], repr(ending)


def test_a_long_quoted_field_spanning_lines_is_one_bad_row_ending_where_its_quotes_end():
    middle = ("z" * 70_000 + "\n") * 3
    data = f'code,description\nA1,"{middle}""quoted"", still"\nA2,after\n'.encode()
    assert rows_of(data)[1] == [(5, TooLong()), (6, ["A2", "after"])]


def test_a_long_line_that_opens_a_quoted_field_ends_its_row_where_the_quote_closes():
    data = f'code,description\nA1,"{"q" * 100_000}\nstill inside",\nA2,\n'.encode()
    assert rows_of(data)[1] == [(3, TooLong()), (4, ["A2", ""])]


def test_an_overlong_header_is_refused_whole():
    with pytest.raises(Invalid) as caught:
        rows_of(b"code," + b"h" * 100_000 + b"\nA1\n")
    assert (caught.value.code, caught.value.field) == ("csv_invalid", "file")


def test_a_file_that_ends_inside_a_long_quoted_field_is_refused_whole():
    with pytest.raises(Invalid) as caught:
        rows_of(b'code\nA1\n"' + b"u" * 200_000 + b"\nmore\n")
    assert caught.value.code == "csv_invalid"
    assert "line 4: unexpected end of data" in caught.value.reason


FIELD = st.text(alphabet='ab",\r\n', max_size=12)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(FIELD, min_size=1, max_size=4), max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(min_value=4, max_value=30),
)
def test_rows_read_as_csv_reads_them_except_those_too_long(records, ending, limit):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator=ending).writerows([["code"], *records])
    text = buffer.getvalue()
    saved = csv_files.ROW_MAX
    csv_files.ROW_MAX = limit
    try:
        header, rows = rows_of(text.encode())
    finally:
        csv_files.ROW_MAX = saved
    assert header == ["code"]
    assert rows == reference(text, limit)[1:]
