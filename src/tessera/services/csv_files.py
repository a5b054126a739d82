"""Reading uploaded CSV files as a stream: UTF-8 (a byte-order mark is fine), a header line,
one record at a time, so a file of any size is read in constant memory.

A file that is not UTF-8 text or not CSV is refused whole with the reason and the line. A
record longer than ``ROW_MAX`` characters is not: it comes out as one ``TooLong`` row, so the
caller reports it like any other bad row and keeps the good ones. Lines are read at most
``ROW_MAX`` characters at a time; the rest of a long line is only scanned for the quotes that
decide where its record ends, and never held whole in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from tessera.domain.errors import Invalid

PROBLEMS_SHOWN = 1000  # rows named in a report; the counts are always exact
ROW_MAX = 65_536  # characters in one record (a code, a description and an expiry need < 700)


@dataclass(frozen=True, slots=True)
class TooLong:
    """A record that was too long to read: one bad row."""

    reason: str = f"row is longer than {ROW_MAX} characters"


Records = Iterator[tuple[int, list[str] | TooLong]]


def read_csv(stream: BinaryIO) -> tuple[list[str], Records]:
    """The header and an iterator of (line number, fields or TooLong), blank lines skipped."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    lines = _BoundedLines(text)
    reader = csv.reader(lines, strict=True)
    try:
        header = _next(reader)
    except StopIteration:
        text.detach()
        raise Invalid(
            "file",
            "is empty: its first line must name the columns (code, description, expiry)",
            code="csv_empty",
        ) from None
    except Invalid:
        text.detach()
        raise
    if lines.record_done() or (len(header) == 1 and len(header[0]) > 200):
        text.detach()
        raise Invalid("file", "line 1 is not a CSV header", code="csv_invalid")
    return header, _records(reader, lines, text)


def _records(reader: Any, lines: _BoundedLines, text: io.TextIOWrapper) -> Records:
    try:
        while True:
            try:
                fields = _next(reader)
            except StopIteration:
                return
            if lines.too_long:
                lines.record_done()
                yield reader.line_num, TooLong()
            else:
                lines.size = 0  # record_done, inlined: this runs once a row
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


class _BoundedLines:
    """The file's lines for ``csv.reader``, none longer than ``ROW_MAX``.

    Once a record passes ``ROW_MAX`` characters, each of its lines (the long one and any that
    follow inside the same quoted field) is read in pieces, scanned for quotes and replaced
    by a stand-in that leaves the csv parser in the state the real line would have: ``"\n"``
    keeps it where it was, ``'"\n'`` opens or closes a quoted field. So line numbers and
    record boundaries stay those of the file, and the parser never holds the long text.
    ``record_done`` (called after each record) says whether that record was too long.
    """

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.readline = text.readline
        self.pushed: str | None = None
        self.size = 0  # characters of the current record so far (0: none given yet)
        self.too_long = False

    def record_done(self) -> bool:
        too_long = self.too_long
        self.size, self.too_long = 0, False
        return too_long

    def __iter__(self) -> Iterator[str]:
        readline, limit = self.readline, ROW_MAX + 2
        while True:
            if self.pushed is None:
                line = readline(limit)
            else:
                line, self.pushed = self.pushed, None
            if not line:
                return
            size = self.size + len(line)
            if size <= ROW_MAX and not self.too_long:  # the common case, kept short
                self.size = size
                yield line
            else:
                yield self._long(line)

    def _long(self, line: str) -> str:
        quoted = self.size > 0  # a record goes on to another line only inside quotes
        whole = len(line) < ROW_MAX + 2 or line.endswith("\n")  # else a piece of a long line
        ending = 2 if line.endswith("\r\n") else 1 if line.endswith(("\n", "\r")) else 0
        if whole and not self.too_long and self.size + len(line) - ending <= ROW_MAX:
            self.size += len(line)  # exactly ROW_MAX characters and its line end
            return line
        self.too_long, self.size = True, self.size + 1
        scan = _QuoteScan(quoted)
        scan.feed(line)
        while not whole:
            piece = self.readline(ROW_MAX + 2)
            if not piece:
                break
            if line.endswith("\r"):  # a lone CR ended the line, or a CR LF was cut in two
                if piece != "\n":
                    self.pushed = piece
                break
            scan.feed(piece)
            line = piece
            whole = len(piece) < ROW_MAX + 2 or piece.endswith("\n")
        return '"\n' if scan.ends_quoted != quoted else "\n"


class _QuoteScan:
    """Follows the csv dialect's quoting (excel: ``,`` and ``"``, doubled quotes) through a
    line fed in pieces, to know whether the line ends inside a quoted field. Text that would
    make the strict parser fail is taken as plain text: the row is refused anyway."""

    def __init__(self, quoted: bool) -> None:
        self.quoted = quoted  # inside a quoted field
        self.field_start = not quoted
        self.quote_seen = False  # a quote inside a quoted field: closing, or the first of two

    def feed(self, text: str) -> None:
        at, end = 0, len(text)
        while at < end:
            if self.quote_seen:
                self.quote_seen = False
                if text[at] == '"':
                    at += 1  # a doubled quote: still inside
                    continue
                self.quoted = False
                self.field_start = text[at] == ","
                at += 1
            elif self.quoted:
                found = text.find('"', at)
                if found < 0:
                    return
                self.quote_seen, at = True, found + 1
            elif self.field_start and text[at] == '"':
                self.quoted, self.field_start = True, False
                at += 1
            else:
                found = text.find(",", at)
                if found < 0:
                    self.field_start = False
                    return
                self.field_start, at = True, found + 1
        # a quote at the very end of the line closes its field (the line ends the record)

    @property
    def ends_quoted(self) -> bool:
        return self.quoted and not self.quote_seen
