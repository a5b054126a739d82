"""Voucher lists, their uploads and their codes.

Codes are taken with a compare-and-set: on PostgreSQL the next available code is locked with
``FOR UPDATE SKIP LOCKED`` (concurrent takers pass over each other's rows instead of queueing);
on SQLite writers are serialized by ``BEGIN IMMEDIATE`` and the same statement runs without
the lock clause. Either way one code reaches exactly one subscriber.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.lists import (
    CodeState,
    ListSpec,
    ListStatus,
    Utilization,
    VoucherList,
)
from tessera.domain.paging import Page

AVAILABLE_LITERAL: sa.ColumnElement[str] = sa.literal_column(f"'{CodeState.AVAILABLE.value}'")

# code_hash, code_sealed, description, expires_at, line
StagedCode = tuple[bytes, bytes, str | None, datetime | None, int]

_COPY_STAGING = (
    "COPY list_codes_staging (code_hash, code_sealed, description, expires_at, line) "
    "FROM STDIN (FORMAT BINARY)"
)
_INSERT_ROW = (
    "INSERT INTO list_codes (tenant_id, list_id, upload_id, state, "
    "code_hash, code_sealed, description, expires_at, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (list_id, code_hash) DO NOTHING"
)
_INSERT_STAGED = (
    "INSERT INTO list_codes (tenant_id, list_id, upload_id, state, "
    "code_hash, code_sealed, description, expires_at, line) "
    "SELECT %s, %s, %s, %s, code_hash, code_sealed, description, expires_at, line "
    "FROM list_codes_staging ORDER BY line ON CONFLICT (list_id, code_hash) DO NOTHING "
    "RETURNING line"
)
# Where each row that did not go in came from: the left-out rows' lines and hashes, each a
# probe of the unique (list_id, code_hash) index. The LIMIT keeps the planner from pulling
# the LATERAL subquery up into a plain join, which it may plan as a hash join over a scan of
# the whole list. (The IN-list lookup this replaces was planned as such a scan mid-upload:
# 27 s for 50,000 rows with 1 % repeats, and growing with the list.)
_ORIGINS_OF = (
    "SELECT r.line, o.upload_id, o.line, o.state "
    "FROM unnest(%s::int4[], %s::bytea[]) AS r(line, code_hash) CROSS JOIN LATERAL ("
    "SELECT c.upload_id, c.line, c.state FROM list_codes c "
    "WHERE c.tenant_id = %s AND c.list_id = %s AND c.code_hash = r.code_hash LIMIT 1) o"
)


def _binder(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Callable[[Any], Any]:
    """How SQLAlchemy stores a value of this type on this dialect (identity if as is)."""
    process = type_.bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def _list(row: sa.RowMapping) -> VoucherList:
    return VoucherList(
        id=row["id"],
        spec=ListSpec(
            partner=row["partner"],
            name=row["name"],
            description=row["description"],
            low_stock_percent=row["low_stock_percent"],
            ends_at=row["ends_at"],
            codes_per_subscriber=row["codes_per_subscriber"],
        ),
        set_status=ListStatus(row["status"]),
        utilization=Utilization(
            row["uploaded"], row["issued"] + row["issued_slots"], row["redeemed"]
        ),
        low_stock_armed=row["low_stock_armed"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _spec_columns(spec: ListSpec) -> dict[str, object]:
    return {
        "partner": spec.partner,
        "name": spec.name,
        "description": spec.description,
        "low_stock_percent": spec.low_stock_percent,
        "ends_at": spec.ends_at,
        "codes_per_subscriber": spec.codes_per_subscriber,
    }


@dataclass(frozen=True, slots=True)
class Counters:
    """A list's figures as they are after a change, read in the change's statement."""

    uploaded: int
    issued: int
    low_stock_percent: int
    low_stock_armed: bool


class VoucherListRepository(TenantScoped):
    """A list's ``issued`` figure is its row's plus its slots' (``list_issued_slots``)."""

    table = t.voucher_lists

    def _slots_of(self, list_id: Any) -> sa.ScalarSelect[Any]:
        s = t.list_issued_slots.c
        return (
            sa.select(sa.cast(sa.func.coalesce(sa.func.sum(s.issued), 0), sa.BigInteger))
            .where(s.tenant_id == self.tenant_id, s.list_id == list_id)
            .scalar_subquery()
        )

    def _select(self, *columns: Any) -> sa.Select[Any]:
        if columns:
            return super()._select(*columns)
        slots = self._slots_of(self.table.c.id).label("issued_slots")
        return super()._select(self.table, slots)

    def add(self, voucher_list: VoucherList) -> None:
        self.conn.execute(
            self._insert(
                id=voucher_list.id,
                status=voucher_list.set_status.value,
                uploaded=0,
                issued=0,
                redeemed=0,
                low_stock_armed=True,
                created_at=voucher_list.created_at,
                updated_at=voucher_list.updated_at,
                **_spec_columns(voucher_list.spec),
            )
        )

    def get(self, list_id: uuid.UUID) -> VoucherList | None:
        row = self.conn.execute(self._select().where(self.table.c.id == list_id)).mappings().first()
        return None if row is None else _list(row)

    def by_name(self, name: str) -> VoucherList | None:
        row = self.conn.execute(self._select().where(self.table.c.name == name)).mappings().first()
        return None if row is None else _list(row)

    def name_taken(self, name: str, except_id: uuid.UUID | None = None) -> bool:
        stmt = self._select(self.table.c.id).where(self.table.c.name == name)
        if except_id is not None:
            stmt = stmt.where(self.table.c.id != except_id)
        return self.conn.execute(stmt).first() is not None

    def update(self, voucher_list: VoucherList) -> None:
        self.conn.execute(
            self._update(self.table.c.id == voucher_list.id).values(
                status=voucher_list.set_status.value,
                updated_at=voucher_list.updated_at,
                **_spec_columns(voucher_list.spec),
            )
        )

    def list(
        self,
        cursor: str | None,
        limit: int,
        now: datetime,
        status: ListStatus | None = None,
        partner: str | None = None,
    ) -> Page[VoucherList]:
        c = self.table.c
        stmt = self._select()
        if partner is not None:
            stmt = stmt.where(c.partner == partner)
        if status is not None:
            stmt = stmt.where(self._has_status(status, now))
        return self._page(stmt, c.id, cursor, limit, _list)

    def _has_status(self, status: ListStatus, now: datetime) -> sa.ColumnElement[bool]:
        """The SQL twin of ``domain.lists.effective_status``."""
        c = self.table.c
        ended = sa.and_(c.ends_at.is_not(None), c.ends_at <= now)
        if status is ListStatus.EXPIRED:
            return sa.and_(c.status != ListStatus.ARCHIVED.value, ended)
        if status is ListStatus.ARCHIVED:
            return c.status == status.value
        return sa.and_(c.status == status.value, sa.not_(ended))

    def many(self, list_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, VoucherList]:
        stmt = self._select().where(self.table.c.id.in_(list_ids))
        return {row["id"]: _list(row) for row in self.conn.execute(stmt).mappings()}

    def count(self, list_id: uuid.UUID, **deltas: int) -> Counters:
        """Add to the counters (uploaded / issued / redeemed) and read them back, atomically."""
        c = self.table.c
        stmt = (
            self._update(c.id == list_id)
            .values({c[name]: c[name] + delta for name, delta in deltas.items()})
            .returning(c.uploaded, c.issued, c.low_stock_percent, c.low_stock_armed)
        )
        row = self.conn.execute(stmt).one()
        slots = self.conn.execute(sa.select(self._slots_of(list_id))).scalar_one()
        issued = row.issued + slots
        return Counters(row.uploaded, issued, row.low_stock_percent, row.low_stock_armed)

    def arm(self, list_id: uuid.UUID, armed: bool) -> bool:
        """Set the low-stock flag; True only for the one caller that changed it."""
        c = self.table.c
        stmt = self._update(c.id == list_id, c.low_stock_armed == (not armed)).values(
            low_stock_armed=armed
        )
        return self.conn.execute(stmt).rowcount == 1


@dataclass(frozen=True, slots=True)
class TakenCode:
    id: int
    list_id: uuid.UUID
    code_sealed: bytes
    description: str | None
    expires_at: datetime | None
    issued_at: datetime | None = None  # read back only for a code given earlier


class ListHoldingRepository(TenantScoped):
    """How many codes of each list distributions gave each subscriber: the cap, settled by
    the database. ``claim`` is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE codes <
    cap``: a second distribution to the same subscriber waits on the first's row and then
    sees its count, so two racing distributions cannot both pass the cap."""

    table = t.list_holdings

    def claim(self, list_id: uuid.UUID, subscriber_id: uuid.UUID, cap: int) -> bool:
        """Count one more code for the subscriber, unless that would pass ``cap``."""
        c = self.table.c
        if self.conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        stmt = (
            insert(self.table)
            .values(tenant_id=self.tenant_id, list_id=list_id, subscriber_id=subscriber_id, codes=1)
            .on_conflict_do_update(
                index_elements=[c.list_id, c.subscriber_id],
                set_={"codes": c.codes + 1},
                where=sa.and_(c.tenant_id == self.tenant_id, c.codes < cap),
            )
            .returning(c.codes)
        )
        return self.conn.execute(stmt).first() is not None

    def release(self, list_id: uuid.UUID, subscriber_id: uuid.UUID) -> None:
        """Take back a claim whose list had no code to give after all."""
        c = self.table.c
        self.conn.execute(
            self._update(c.list_id == list_id, c.subscriber_id == subscriber_id).values(
                codes=c.codes - 1
            )
        )


@dataclass(frozen=True, slots=True)
class CodeOrigin:
    upload_id: uuid.UUID
    line: int
    state: CodeState


@dataclass(frozen=True, slots=True)
class ChunkWritten:
    """What a chunk's insert did: how many rows went in, and for each row left out (its
    code was in the list already: an earlier upload, or an earlier chunk of this one) its
    line and where that code came from."""

    inserted: int
    repeats: list[tuple[int, CodeOrigin]]


class ListCodeRepository(TenantScoped):
    table = t.list_codes

    def add_chunk(
        self, list_id: uuid.UUID, upload_id: uuid.UUID, rows: list[StagedCode]
    ) -> ChunkWritten:
        """Insert codes (distinct hashes) against the list's unique index, skipping those
        already in it, and tell where each skipped one came from: one pass, whatever the
        share of repeats, and no lookup at all for a chunk that went in whole.

        The bulk path bypasses ``_insert`` for speed (COPY on PostgreSQL) but sets
        ``tenant_id`` from this repository all the same.
        """
        if not rows:
            return ChunkWritten(0, [])
        if self.conn.dialect.name == "postgresql":
            return self._copy_chunk(list_id, upload_id, rows)
        inserted = self._executemany_chunk(list_id, upload_id, rows)
        if inserted == len(rows):
            return ChunkWritten(inserted, [])
        # Which rows went in: this chunk's lines of this upload, a range scan of
        # ix_list_codes_available (a chunk's lines are contiguous in the file). The rows left
        # out have their origins read by hash, a probe of the unique index each (SQLite has
        # one writer, so each is found).
        c = self.table.c
        lines = [row[4] for row in rows]
        went_in = set(
            self.conn.execute(
                self._select(c.line).where(
                    c.list_id == list_id,
                    c.upload_id == upload_id,
                    c.state == AVAILABLE_LITERAL,
                    c.line.between(min(lines), max(lines)),
                )
            ).scalars()
        )
        left_out = [row for row in rows if row[4] not in went_in]
        origins = self.origins(list_id, [row[0] for row in left_out])
        repeats = []
        for code_hash, _sealed, _description, _expires, line in left_out:
            origin = origins.get(code_hash)
            if origin is not None:
                repeats.append((line, origin))
        return ChunkWritten(inserted, repeats)

    def _executemany_chunk(
        self, list_id: uuid.UUID, upload_id: uuid.UUID, rows: list[StagedCode]
    ) -> int:
        """SQLite: one prepared statement, executed per row by the driver. Values are turned
        into their stored form by SQLAlchemy's own bind processors, once per distinct value
        (partner files repeat a few expiry dates), instead of once per row and column."""
        c = self.table.c
        dialect = self.conn.dialect
        as_uuid = _binder(c.list_id.type, dialect)
        as_time = _binder(c.expires_at.type, dialect)
        times: dict[datetime | None, Any] = {}
        fixed = (
            as_uuid(self.tenant_id),
            as_uuid(list_id),
            as_uuid(upload_id),
            CodeState.AVAILABLE.value,
        )
        params = []
        for code_hash, sealed, description, expires_at, line in rows:
            stored = times.get(expires_at)
            if stored is None:
                stored = times[expires_at] = as_time(expires_at)
            params.append((*fixed, code_hash, sealed, description, stored, line))
        cursor: Any = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB: the hash index is random
            cursor.executemany(_INSERT_ROW, params)
            return int(cursor.rowcount)
        finally:
            cursor.execute("PRAGMA cache_size = -2000")  # back to the default for the pool
            cursor.close()

    def _copy_chunk(
        self, list_id: uuid.UUID, upload_id: uuid.UUID, rows: list[StagedCode]
    ) -> ChunkWritten:
        """COPY the chunk into a staging table, one ``INSERT ... SELECT ... ON CONFLICT DO
        NOTHING RETURNING line``, and only if rows were left out, one statement probing the
        unique index for those rows' origins."""
        dbapi: Any = self.conn.connection.driver_connection
        repeats: list[tuple[int, CodeOrigin]] = []
        with dbapi.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS list_codes_staging (code_hash bytea, "
                "code_sealed bytea, description text, expires_at timestamptz, line int) "
                "ON COMMIT DROP"
            )
            with cur.copy(_COPY_STAGING) as cp:
                cp.set_types(["bytea", "bytea", "text", "timestamptz", "int4"])
                for row in rows:
                    cp.write_row(row)
            cur.execute(
                _INSERT_STAGED,
                (self.tenant_id, list_id, upload_id, CodeState.AVAILABLE.value),
            )
            went_in = {line for (line,) in cur.fetchall()}
            if len(went_in) < len(rows):
                left_out = [row for row in rows if row[4] not in went_in]
                lines = [row[4] for row in left_out]
                hashes = [row[0] for row in left_out]
                cur.execute(_ORIGINS_OF, (lines, hashes, self.tenant_id, list_id))
                for line, origin_upload, origin_line, state in cur.fetchall():
                    repeats.append((line, CodeOrigin(origin_upload, origin_line, CodeState(state))))
            cur.execute("TRUNCATE list_codes_staging")
        return ChunkWritten(len(went_in), repeats)

    def refresh_statistics(self) -> None:
        """After a bulk load on PostgreSQL: with stale statistics the planner believes a list
        of a million codes has a handful, and sorts them all on every distribution."""
        if self.conn.dialect.name == "postgresql":
            self.conn.exec_driver_sql("ANALYZE list_codes")

    def origins(self, list_id: uuid.UUID, hashes: Sequence[bytes]) -> dict[bytes, CodeOrigin]:
        """Where each of these codes came from (upload and line), if it is in the list."""
        c = self.table.c
        found: dict[bytes, CodeOrigin] = {}
        for start in range(0, len(hashes), 500):
            stmt = self._select(c.code_hash, c.upload_id, c.line, c.state).where(
                c.list_id == list_id, c.code_hash.in_(hashes[start : start + 500])
            )
            for row in self.conn.execute(stmt):
                found[bytes(row.code_hash)] = CodeOrigin(
                    row.upload_id, row.line, CodeState(row.state)
                )
        return found

    def take(self, list_id: uuid.UUID, subscriber_id: uuid.UUID, now: datetime) -> TakenCode | None:
        """Give the list's next available, unexpired code (oldest upload first, then file
        order) to a subscriber, as a compare-and-set."""
        c = self.table.c
        next_code = (
            self._select(c.id)
            .where(
                c.list_id == list_id,
                c.state == AVAILABLE_LITERAL,  # matches the partial index ix_list_codes_available
                sa.or_(c.expires_at.is_(None), c.expires_at > now),
            )
            .order_by(c.upload_id, c.line)  # the order of ix_list_codes_available
            .limit(1)
            .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
            .scalar_subquery()
        )
        stmt = (
            self._update(c.id == next_code, c.state == CodeState.AVAILABLE.value)
            .values(state=CodeState.ISSUED.value, subscriber_id=subscriber_id, issued_at=now)
            .returning(c.id, c.code_sealed, c.description, c.expires_at)
        )
        row = self.conn.execute(stmt).first()
        if row is None:
            return None
        return TakenCode(row.id, list_id, bytes(row.code_sealed), row.description, row.expires_at)

    def given_last(self, list_id: uuid.UUID, subscriber_id: uuid.UUID) -> TakenCode | None:
        """The code of the list given last to this subscriber (ix_list_codes_subscriber)."""
        c = self.table.c
        row = self.conn.execute(
            self._select(c.id, c.code_sealed, c.description, c.expires_at, c.issued_at)
            .where(c.list_id == list_id, c.subscriber_id == subscriber_id)
            .order_by(c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return TakenCode(
            row.id, list_id, bytes(row.code_sealed), row.description, row.expires_at, row.issued_at
        )

    def sealed(self, code_id: int) -> tuple[uuid.UUID, bytes] | None:
        """A given code's list and its sealed value (to show it again to its caller)."""
        c = self.table.c
        row = self.conn.execute(
            self._select(c.list_id, c.code_sealed).where(c.id == code_id)
        ).first()
        return None if row is None else (row.list_id, bytes(row.code_sealed))

    def give_back(self, code_id: int) -> bool:
        """Return an issued code to its list (a reversed reward), as a compare-and-set: a code
        the partner has already seen redeemed stays redeemed."""
        c = self.table.c
        stmt = self._update(c.id == code_id, c.state == CodeState.ISSUED.value).values(
            state=CodeState.AVAILABLE.value, subscriber_id=None, issued_at=None
        )
        return self.conn.execute(stmt).rowcount == 1

    def redeem(self, list_id: uuid.UUID, hashes: Sequence[bytes], at: datetime) -> set[bytes]:
        """Mark issued codes as redeemed at the partner; returns the hashes that changed."""
        c = self.table.c
        done: set[bytes] = set()
        for start in range(0, len(hashes), 500):
            stmt = (
                self._update(
                    c.list_id == list_id,
                    c.code_hash.in_(hashes[start : start + 500]),
                    c.state == CodeState.ISSUED.value,
                )
                .values(state=CodeState.REDEEMED.value, redeemed_at=at)
                .returning(c.code_hash)
            )
            done.update(bytes(h) for h in self.conn.execute(stmt).scalars())
        return done


@dataclass(frozen=True, slots=True)
class UploadRecord:
    id: uuid.UUID
    list_id: uuid.UUID
    filename: str | None
    rows: int
    accepted: int
    duplicates_in_file: int
    duplicates_in_list: int
    invalid: int
    created_at: datetime


class ListUploadRepository(TenantScoped):
    table = t.list_uploads

    def add(self, record: UploadRecord) -> None:
        self.conn.execute(self._insert(**_upload_columns(record)))

    def finish(self, record: UploadRecord) -> None:
        values = _upload_columns(record)
        self.conn.execute(self._update(self.table.c.id == record.id).values(values))

    def list(self, list_id: uuid.UUID, cursor: str | None, limit: int) -> Page[UploadRecord]:
        stmt = self._select().where(self.table.c.list_id == list_id)
        return self._page(stmt, self.table.c.id, cursor, limit, _upload)


def _upload_columns(record: UploadRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "list_id": record.list_id,
        "filename": record.filename,
        "rows": record.rows,
        "accepted": record.accepted,
        "duplicates_in_file": record.duplicates_in_file,
        "duplicates_in_list": record.duplicates_in_list,
        "invalid": record.invalid,
        "created_at": record.created_at,
    }


def _upload(row: sa.RowMapping) -> UploadRecord:
    return UploadRecord(**{f: row[f] for f in UploadRecord.__dataclass_fields__})
