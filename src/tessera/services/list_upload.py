"""Uploading partner codes: a CSV stream in, a report out.

The file is read a record at a time and written a chunk at a time (hash, seal, bulk insert),
so memory stays bounded whatever the file's size. Duplicates are found in one pass: a repeat
within a chunk by the chunk's own dict, a repeat of an earlier chunk or of a code the list
already had by the store's unique (list, code hash) index, which skips it; the rows a chunk
lost have their origins read back in one statement (``ListCodeRepository.add_chunk``), to
tell a repeat within this file (and of which line) from a code the list already had.

One upload is one transaction: the good rows go in together, or (for a file that is not CSV
at all) nothing does. A top-up is simply a later upload into the same list.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from tessera.adapters.db.repositories.lists import StagedCode, UploadRecord
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict
from tessera.domain.ids import new_id
from tessera.domain.lists import CodeRow, ListStatus, RowParser, Utilization, is_low
from tessera.services.csv_files import PROBLEMS_SHOWN, TooLong, read_csv
from tessera.services.lists import RowIssue, list_or_404

CHUNK = 10_000
Progress = Callable[[int], None]  # rows read so far


@dataclass
class UploadReport:
    upload_id: uuid.UUID
    list_id: uuid.UUID
    rows: int = 0
    accepted: int = 0
    duplicates_in_file: int = 0
    duplicates_in_list: int = 0
    invalid: int = 0
    problems: list[RowIssue] = field(default_factory=list)
    problems_truncated: bool = False
    utilization: Utilization | None = None
    # Told of every problem, past the first PROBLEMS_SHOWN too (the CLI's --report file).
    every_problem: Callable[[RowIssue], None] | None = None
    _kept: list[tuple[int, RowIssue]] = field(default_factory=list, repr=False)

    def problem(self, line: int, kind: str, reason: str) -> None:
        if kind == "invalid":
            self.invalid += 1
        elif kind == "duplicate_in_file":
            self.duplicates_in_file += 1
        else:
            self.duplicates_in_list += 1
        issue = RowIssue(line, kind, reason)
        if self.every_problem is not None:
            self.every_problem(issue)
        # The PROBLEMS_SHOWN lowest lines (a chunk's repeats are told after later rows'
        # problems): a heap of (-line, issue), its top the highest line kept.
        if len(self._kept) < PROBLEMS_SHOWN:
            heapq.heappush(self._kept, (-line, issue))
        else:
            self.problems_truncated = True
            if line < -self._kept[0][0]:
                heapq.heapreplace(self._kept, (-line, issue))

    def settle(self) -> None:
        """Put the kept problems in line order into ``problems``."""
        self.problems = sorted((issue for _, issue in self._kept), key=lambda p: p.line)


def upload_codes(
    uow: UnitOfWork,
    list_id: uuid.UUID,
    stream: BinaryIO,
    filename: str | None = None,
    progress: Progress | None = None,
    every_problem: Callable[[RowIssue], None] | None = None,
) -> UploadReport:
    """Add the codes of a CSV file (header: code, description, expiry) to a list. The report
    names the first PROBLEMS_SHOWN problems; ``every_problem`` hears of each one."""
    report = UploadReport(upload_id=new_id(), list_id=list_id, every_problem=every_problem)
    with uow:
        now = uow.clock()
        voucher_list = list_or_404(uow, list_id)
        if voucher_list.set_status is ListStatus.ARCHIVED:
            raise Conflict("an archived list takes no more codes", code="list_archived")
        header, records = read_csv(stream)
        parser = RowParser(header, now)
        uow.list_uploads.add(_record(report, filename, now))
        writer = _ChunkWriter(uow, report)
        try:
            for line, fields in records:
                report.rows += 1
                if isinstance(fields, TooLong):
                    report.problem(line, "invalid", fields.reason)
                    continue
                row = parser.parse(line, fields)
                if isinstance(row, CodeRow):
                    writer.add(row)
                else:
                    report.problem(row.line, "invalid", row.reason)
                if progress is not None and report.rows % CHUNK == 0:
                    progress(report.rows)
        finally:
            writer.close()
        if report.accepted >= CHUNK:
            uow.list_codes.refresh_statistics()
        if progress is not None:
            progress(report.rows)
        report.settle()
        uow.list_uploads.finish(_record(report, filename, now))
        counters = uow.lists.count(list_id, uploaded=report.accepted)
        if not counters.low_stock_armed and not is_low(
            counters.issued, counters.uploaded, counters.low_stock_percent
        ):
            uow.lists.arm(list_id, True)  # a top-up brought it back under the threshold
        uow.edrs.append(
            EdrDraft(
                "list.upload",
                "voucher_list",
                str(list_id),
                details={
                    "upload_id": str(report.upload_id),
                    "filename": filename,
                    "rows": report.rows,
                    "accepted": report.accepted,
                    "duplicates_in_file": report.duplicates_in_file,
                    "duplicates_in_list": report.duplicates_in_list,
                    "invalid": report.invalid,
                },
            ),
            now,
        )
        report.utilization = list_or_404(uow, list_id).utilization
        uow.commit()
    return report


def _record(report: UploadReport, filename: str | None, now: datetime) -> UploadRecord:
    return UploadRecord(
        id=report.upload_id,
        list_id=report.list_id,
        filename=filename[:300] if filename else None,
        rows=report.rows,
        accepted=report.accepted,
        duplicates_in_file=report.duplicates_in_file,
        duplicates_in_list=report.duplicates_in_list,
        invalid=report.invalid,
        created_at=now,
    )


class _ChunkWriter:
    """Collects valid rows and drops repeats within a chunk; a single writer thread seals
    and inserts one chunk while the caller parses the next (sqlite3 and psycopg let go of
    the GIL while the database works). At most one chunk is in flight: memory stays bounded.
    Only the writer thread touches the connection until ``close``."""

    def __init__(self, uow: UnitOfWork, report: UploadReport) -> None:
        self.uow = uow
        self.report = report
        self.hash = uow.sealer.hash
        self.rows: dict[bytes, CodeRow] = {}
        self.repeats: list[tuple[int, bytes]] = []  # (line, hash) repeating a row of the chunk
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tessera-upload")
        self.in_flight: Future[_Written] | None = None

    def add(self, row: CodeRow) -> None:
        code_hash = self.hash(row.code)
        if code_hash in self.rows:
            self.repeats.append((row.line, code_hash))  # told once the chunk's first is written
            return
        self.rows[code_hash] = row
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, {}
        repeats, self.repeats = self.repeats, []
        self._collect()
        self.in_flight = self.pool.submit(self._write, rows, repeats)

    def close(self) -> None:
        """Write what is left and wait for it; always called, also when the upload fails."""
        try:
            self.flush()
            self._collect()
        finally:
            self.pool.shutdown(wait=True)  # the connection is the caller's again after this

    def _collect(self) -> None:
        if self.in_flight is None:
            return
        written, self.in_flight = self.in_flight.result(), None
        self.report.accepted += written.inserted
        for line, kind, reason in written.problems:
            self.report.problem(line, kind, reason)

    def _write(self, rows: dict[bytes, CodeRow], repeats: list[tuple[int, bytes]]) -> _Written:
        list_id, upload_id = self.report.list_id, self.report.upload_id
        sealer = self.uow.sealer
        sealed = sealer.seal_many([r.code.encode() for r in rows.values()], list_id.bytes)
        staged: list[StagedCode] = [
            (code_hash, seal, row.description, row.expires_at, row.line)
            for (code_hash, row), seal in zip(rows.items(), sealed, strict=True)
        ]
        chunk = self.uow.list_codes.add_chunk(list_id, upload_id, staged)
        written = _Written(chunk.inserted, [])
        left_out: dict[int, tuple[str, str]] = {}  # line -> (kind, reason)
        for line, origin in chunk.repeats:
            if origin.upload_id != upload_id:
                left_out[line] = ("duplicate_in_list", "is already in the list")
            else:
                left_out[line] = ("duplicate_in_file", f"duplicate of line {origin.line}")
            written.problems.append((line, *left_out[line]))
        # A repeat within the chunk shares its first row's fate: "duplicate of line N" always
        # names the line that went in, however the file falls into chunks.
        for line, code_hash in repeats:
            first = rows[code_hash].line
            kind, reason = left_out.get(first, ("duplicate_in_file", f"duplicate of line {first}"))
            written.problems.append((line, kind, reason))
        return written


@dataclass
class _Written:
    inserted: int
    problems: list[tuple[int, str, str]]
