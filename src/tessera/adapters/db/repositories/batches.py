"""Batches, and the bulk side of vouchers: chunked inserts and serial-range updates.

Bulk inserts bypass SQLAlchemy's per-row parameter processing (it costs more than the
database does at a million rows): the per-batch constants are converted once with the
columns' own bind processors, and rows go to the driver as plain tuples. PostgreSQL
COPYs each chunk straight into ``vouchers`` inside a savepoint; a taken code hash aborts
that COPY, and the chunk is then copied into a temporary staging table and moved with
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (the lead's staging design, kept for the
rare chunk that needs it: always staging cost a second pass over every row). SQLite runs
one ``INSERT OR IGNORE`` executemany. Either way a duplicate code hash is skipped, and the
caller learns how many rows went in.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.batches import Batch, BatchState, SerialRange
from tessera.domain.codes import CodeFormat
from tessera.domain.paging import Page
from tessera.domain.statuses import Operation, VoucherStatus, next_status, sources
from tessera.domain.voucher_counts import FROZEN

# (serial, code hash, last 4 characters of the code)
VoucherRow = tuple[int, bytes, str]


def _batch(row: sa.RowMapping) -> Batch:
    return Batch(
        id=row["id"],
        voucher_type_id=row["voucher_type_id"],
        lifecycle_id=row["lifecycle_id"],
        state=BatchState(row["state"]),
        requested=row["requested"],
        generated=row["generated"],
        code_format=CodeFormat.from_dict(row["code_format"]),
        serials=SerialRange(row["serial_first"], row["serial_last"]),
        include_cost=row["include_cost"],
        print_file=row["print_file"],
        print_file_sha256=row["print_file_sha256"],
        print_file_fetched_at=row["print_file_fetched_at"],
        error=row["error"],
        worker_pid=row["worker_pid"],
        worker_host=row["worker_host"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class BatchRepository(TenantScoped):
    table = t.batches

    def formats_in_use(self) -> set[CodeFormat]:
        """The code formats of the tenant's batches (a handful), so that a mistyped code is
        refused by its check character before any voucher lookup."""
        rows = self.conn.execute(self._select(self.table.c.code_format)).scalars()
        return {CodeFormat.from_dict(data) for data in rows}

    def formats_shared_with_me(self) -> set[CodeFormat]:
        """The code formats of other tenants' batches of types they share with this one."""
        c = self.table.c
        stmt = sa.select(c.code_format).where(self._shared_with_me(self.table))
        return {CodeFormat.from_dict(data) for data in self.conn.execute(stmt).scalars()}

    def add(self, batch: Batch) -> None:
        self.conn.execute(
            self._insert(
                id=batch.id,
                voucher_type_id=batch.voucher_type_id,
                lifecycle_id=batch.lifecycle_id,
                state=batch.state.value,
                requested=batch.requested,
                generated=batch.generated,
                code_format=batch.code_format.to_dict(),
                serial_first=batch.serials.first,
                serial_last=batch.serials.last,
                include_cost=batch.include_cost,
                print_file=batch.print_file,
                worker_pid=batch.worker_pid,
                worker_host=batch.worker_host,
                created_at=batch.created_at,
                updated_at=batch.updated_at,
            )
        )

    def get(self, batch_id: uuid.UUID, *, for_update: bool = False) -> Batch | None:
        stmt = self._select().where(self.table.c.id == batch_id)
        if for_update:  # PostgreSQL row lock; SQLite already holds the database lock
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _batch(row)

    def list(self, cursor: str | None, limit: int) -> Page[Batch]:
        return self._page(self._select(), self.table.c.id, cursor, limit, _batch)

    def change(
        self, batch_id: uuid.UUID, expected: BatchState, now: datetime, **values: Any
    ) -> bool:
        """Compare-and-set on the state: False when the batch is no longer ``expected``.

        A generation chunk starts with this (as a heartbeat), so it takes the row lock
        before a concurrent recovery could fail the batch, or finds out it already was.
        """
        c = self.table.c
        stmt = self._update(c.id == batch_id, c.state == expected.value).values(
            updated_at=now, **values
        )
        return self.conn.execute(stmt).rowcount == 1

    def take_print_file(self, batch_id: uuid.UUID, now: datetime) -> bool:
        """Marks the print file fetched, once: False if another request got there first."""
        c = self.table.c
        stmt = self._update(
            c.id == batch_id, c.print_file_fetched_at.is_(None), c.print_file.is_not(None)
        ).values(print_file_fetched_at=now, updated_at=now)
        return self.conn.execute(stmt).rowcount == 1


@dataclass(frozen=True, slots=True)
class GeneratingBatch:
    tenant_id: uuid.UUID
    id: uuid.UUID
    worker_pid: int | None
    worker_host: str | None
    updated_at: datetime


class GeneratingBatches:
    """Above tenancy: the recovery after a crash looks at every tenant's unfinished batches."""

    def __init__(self, connection: sa.Connection) -> None:
        self.conn = connection

    def all(self) -> list[GeneratingBatch]:
        c = t.batches.c
        stmt = sa.select(c.tenant_id, c.id, c.worker_pid, c.worker_host, c.updated_at).where(
            c.state == BatchState.GENERATING.value
        )
        return [GeneratingBatch(**row) for row in self.conn.execute(stmt).mappings()]


@dataclass(frozen=True, slots=True)
class VoucherConstants:
    """What every voucher of a batch shares."""

    batch_id: uuid.UUID
    voucher_type_id: uuid.UUID
    lifecycle_id: uuid.UUID
    issued_at: datetime


_SQLITE_CHUNK_CACHE_KIB = 128 * 1024

_CONSTANT_COLUMNS = (
    "tenant_id",
    "voucher_type_id",
    "lifecycle_id",
    "batch_id",
    "status",
    "issued_at",
    "status_changed_at",
)
_ROW_COLUMNS = ("serial", "code_hash", "code_last4")


def _copy_text(value: object) -> str:
    """A constant in COPY text format (uuids, plain text, aware datetimes)."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


class BatchVoucherRepository(TenantScoped):
    """The vouchers of batches, in bulk. Single-voucher operations live elsewhere."""

    table = t.vouchers

    def _constants(self, batch: VoucherConstants) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "voucher_type_id": batch.voucher_type_id,
            "lifecycle_id": batch.lifecycle_id,
            "batch_id": batch.batch_id,
            "status": VoucherStatus.PENDING.value,
            "issued_at": batch.issued_at,
            "status_changed_at": batch.issued_at,
        }

    def insert(self, batch: VoucherConstants, rows: Sequence[VoucherRow]) -> int:
        """Inserts the rows as pending vouchers; rows whose code hash is taken (by this tenant
        or earlier in ``rows``) are skipped. Returns how many were inserted."""
        if not rows:
            return 0
        if self.conn.dialect.name == "postgresql":
            return self._insert_postgresql(batch, rows)
        return self._insert_sqlite(batch, rows)

    def _insert_sqlite(self, batch: VoucherConstants, rows: Sequence[VoucherRow]) -> int:
        dialect = self.conn.dialect
        constants = []
        for name, value in self._constants(batch).items():
            column_type = self.table.c[name].type
            process = column_type.dialect_impl(dialect).bind_processor(dialect)
            constants.append(process(value) if process else value)
        names = ", ".join((*_CONSTANT_COLUMNS, *_ROW_COLUMNS))
        marks = ", ".join("?" * (len(_CONSTANT_COLUMNS) + len(_ROW_COLUMNS)))
        sql = f"INSERT OR IGNORE INTO vouchers ({names}) VALUES ({marks})"  # noqa: S608
        head = tuple(constants)
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            # The code-hash index takes keys all over its range; with SQLite's default 2 MB
            # page cache every insert goes back to the file. Until end_chunk() it gets 128 MB.
            cursor.execute(f"PRAGMA cache_size = -{_SQLITE_CHUNK_CACHE_KIB}")
            cursor.executemany(sql, [head + row for row in rows])
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _insert_postgresql(self, batch: VoucherConstants, rows: Sequence[VoucherRow]) -> int:
        raw: Any = self.conn.connection.driver_connection
        # A crash loses at most the last chunks of a generating batch, which is failed on
        # restart anyway: no need to wait for the WAL flush at every chunk's commit.
        raw.execute("SET LOCAL synchronous_commit TO OFF")
        constants = self._constants(batch)
        head = f"{constants['tenant_id']}\t"
        tail = "\t" + "\t".join(_copy_text(constants[name]) for name in _CONSTANT_COLUMNS[1:])
        # COPY text format; a bytea is written \x<hex>, its backslash escaped.
        data = "".join([f"{head}{s}\t\\\\x{h.hex()}\t{last4}{tail}\n" for s, h, last4 in rows])
        columns = ", ".join((_CONSTANT_COLUMNS[0], *_ROW_COLUMNS, *_CONSTANT_COLUMNS[1:]))
        copy = f"COPY {{}} ({columns}) FROM STDIN"
        try:
            with (
                raw.transaction(),  # a savepoint
                raw.cursor() as cursor,
                cursor.copy(copy.format("vouchers")) as target,
            ):
                target.write(data)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass  # a code hash is taken: redo the chunk through a staging table
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS voucher_staging "
                "(LIKE vouchers INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            cursor.execute("TRUNCATE voucher_staging")
            with cursor.copy(copy.format("voucher_staging")) as staging:
                staging.write(data)
            cursor.execute(
                f"INSERT INTO vouchers ({columns}) SELECT {columns} FROM voucher_staging "  # noqa: S608
                "ON CONFLICT (tenant_id, code_hash) DO NOTHING"
            )
            return int(cursor.rowcount)

    def end_chunk(self) -> None:
        """After the chunk's commit: gives the bulk insert's page cache back (SQLite)."""
        if self.conn.dialect.name == "sqlite":
            raw: Any = self.conn.connection.driver_connection
            raw.execute("PRAGMA cache_size = -2000")  # SQLite's default
            raw.execute("PRAGMA shrink_memory")

    @property
    def chunk_size(self) -> int:
        """Vouchers per transaction. SQLite rewrites every index page a chunk touches at
        commit, and the code-hash index is touched everywhere, so fewer, larger chunks; on
        PostgreSQL smaller chunks keep transactions short at no such cost."""
        return 200_000 if self.conn.dialect.name == "sqlite" else 50_000

    @property
    def overlaps_work(self) -> bool:
        """Whether the database works while this thread waits (PostgreSQL, another
        process), so the next chunk can be prepared meanwhile. SQLite works in this
        process and needs the GIL for every row."""
        return self.conn.dialect.name == "postgresql"

    def serials_present(self, batch_id: uuid.UUID, serials: SerialRange) -> set[int]:
        c = self.table.c
        stmt = self._select(c.serial).where(
            c.batch_id == batch_id, c.serial.between(serials.first, serials.last)
        )
        return set(self.conn.execute(stmt).scalars())

    def transition(
        self, batch_id: uuid.UUID, serials: SerialRange, operation: Operation, now: datetime
    ) -> dict[str, int]:
        """Moves every voucher of the range that ``operation`` may start from, one UPDATE per
        source state (pending apart from frozen: pending once activated), and returns how
        many moved from each, so the batch's EDR says it and the status report can rewind
        it (domain/voucher_counts.py)."""
        c = self.table.c
        moved: dict[str, int] = {}
        for source in sorted(sources(operation)):
            target = next_status(source, operation)
            splits: list[tuple[str, list[sa.ColumnElement[bool]]]] = [(source.value, [])]
            if source is VoucherStatus.PENDING:
                splits = [
                    (source.value, [c.activated_at.is_(None)]),
                    (FROZEN, [c.activated_at.is_not(None)]),
                ]
            for state, extra in splits:
                values: dict[str, Any] = {"status": target.value, "status_changed_at": now}
                if target is VoucherStatus.AVAILABLE and state == VoucherStatus.PENDING.value:
                    values["activated_at"] = now  # the first activation starts the validity
                stmt = self._update(
                    c.batch_id == batch_id,
                    c.serial.between(serials.first, serials.last),
                    c.status == source.value,
                    *extra,
                ).values(**values)
                moved[state] = self.conn.execute(stmt).rowcount
        return moved

    def delete_batch(self, batch_id: uuid.UUID) -> int:
        return int(self.conn.execute(self._delete(self.table.c.batch_id == batch_id)).rowcount)

    def counts(self, batch_id: uuid.UUID) -> dict[str, int]:
        c = self.table.c
        stmt = (
            self._select(c.status, sa.func.count()).where(c.batch_id == batch_id).group_by(c.status)
        )
        return {status: int(n) for status, n in self.conn.execute(stmt).all()}
