"""Reading uploaded CSV files as a stream: UTF-8 (a byte-order mark is fine), a header line,
one record at a time, so a file of any size is read in constant memory.

A file that is not UTF-8 text or not CSV is refused whole with the reason and the line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, BinaryIO

from tessera.domain.errors import Invalid

PROBLEMS_SHOWN = 1000  # rows named in a report; the counts are always exact
Records = Iterator[tuple[int, list[str]]]


def read_csv(stream: BinaryIO) -> tuple[list[str], Records]:
    """The header and an iterator of (line number, fields), blank lines skipped."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = _next(reader)
    except StopIteration:
        text.detach()
        raise Invalid(
            "file",
            "is empty: its first line must name the columns (code, description, expiry)",
            code="csv_empty",
        ) from None
    if len(header) == 1 and len(header[0]) > 200:
        text.detach()
        raise Invalid("file", "line 1 is not a CSV header", code="csv_invalid")
    return header, _records(reader, text)


def _records(reader: Any, text: io.TextIOWrapper) -> Records:
    try:
        while True:
            try:
                fields = _next(reader)
            except StopIteration:
                return
            if fields:
                yield reader.line_num, fields
    finally:
        text.detach()  # the caller owns the stream


def _next(reader: Any) -> list[str]:
    try:
        return next(reader)
    except UnicodeDecodeError as exc:
        raise Invalid(
            "file",
            f"is not UTF-8 text (bad byte at offset {exc.start} of a read block); "
            "save it as CSV UTF-8",
            code="csv_not_text",
        ) from None
    except csv.Error as exc:
        line = reader.line_num
        raise Invalid("file", f"is not valid CSV: line {line}: {exc}", code="csv_invalid") from None
