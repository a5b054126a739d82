"""The point of sale's common case on PostgreSQL in two round trips: one read, one write.

A redemption through the unit of work costs a BEGIN, five statements and a COMMIT, each a
round trip with SQLAlchemy's per-statement work on top. Here the read returns the voucher
with its type, its lifecycle, the caller's bar, the subscriber and the ids of the buckets
to be credited (drawn from their sequence); the rules decide in Python as usual; then one
statement writes everything: its first part is the compare-and-set on the voucher's status,
and the bucket, EDR inserts read from it, so they happen only if the voucher moved. A single
statement is its own transaction, so the voucher, the wallet and the records commit together
or not at all.

Both statements are built once and run as prepared statements on an asyncpg pool (each
statement its own transaction): the HTTP worker awaits them on its event loop, with no thread
hand-off. asyncpg rather than psycopg here, for one reason: measured on this path, a query
costs the worker 0.24 ms of CPU with asyncpg and 0.45 ms with psycopg's asyncio connection
(`bench/RESULTS-redeem.md`). Everything else uses psycopg through SQLAlchemy.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.catalog import _lifecycle, _voucher_type
from tessera.adapters.db.repositories.edrs import draft_columns
from tessera.adapters.db.repositories.subscribers import _subscriber
from tessera.adapters.db.repositories.vouchers import VoucherView, _view_statement, _voucher
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Unavailable
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.domain.wallet import Subscriber

fa = t.failed_attempts
log = structlog.get_logger(__name__)


class OutcomeUnknown(Unavailable):
    """The connection broke after the write was sent: it may or may not have committed."""

    code = "outcome_unknown"

    def __init__(self) -> None:
        super().__init__(
            "the database did not confirm the redemption: validate the code to see whether it "
            "was used, and send an Idempotency-Key to retry safely"
        )


@dataclass(frozen=True, slots=True)
class QuickView:
    view: VoucherView
    bucket_ids: list[int]  # one per bucket template of the type, in order
    webhooks: int  # active endpoints of the tenant that want voucher.redeemed


@dataclass(frozen=True, slots=True)
class NewBucket:
    id: int
    balance_type: str
    amount: int
    expires_at: datetime | None


@functools.cache
def _read_sql(dialect: sa.Dialect, bucket_sequence: str) -> str:
    """``bucket_sequence``: the buckets id sequence, looked up once (looking it up in the
    query, with pg_get_serial_sequence, cost more than the rest of the query)."""
    tenant = sa.bindparam("tenant", type_=sa.Uuid)
    bar = (
        sa.select(sa.func.max(fa.c.barred_until))
        .where(fa.c.tenant_id == tenant, fa.c.scope == sa.func.any(sa.bindparam("scopes")))
        .scalar_subquery()
    )
    bucket_ids = sa.text(
        f"ARRAY(SELECT nextval('{bucket_sequence}'::regclass) "  # noqa: S608 - from the catalog
        "FROM generate_series(1, jsonb_array_length(voucher_types.buckets))) AS bucket_ids"
    )
    webhooks = sa.text(
        "(SELECT count(*) FROM webhook_endpoints AS w WHERE w.tenant_id = :tenant AND w.active "
        "AND w.event_types @> '[\"voucher.redeemed\"]') AS webhooks"
    )
    stmt = _view_statement(True, False, True).add_columns(
        bar.label("barred_until"), bucket_ids, webhooks
    )
    return str(stmt.compile(dialect=dialect))


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``%(name)s`` placeholders to asyncpg's ``$n``, and the names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), tuple(names)


# The write. ``moved`` is the compare-and-set; the inserts select from it, so they write
# nothing when it matched no row. A lapsed hold is matched as a reservation whose hold has
# passed (the rules judged it available), never a live one.
# A subscriber first heard of here is created first; if another call created them
# meanwhile, ``joined`` is empty and nothing moves (the caller then takes the slow path).
_WRITE_SQL = """
WITH joined AS (
    INSERT INTO subscribers (id, tenant_id, external_id, attributes, service_state,
                             created_at, updated_at)
    SELECT %(subscriber_id)s, %(tenant)s, %(external_id)s, '{}'::jsonb, %(service_state)s,
           %(now)s, %(now)s
     WHERE %(new_subscriber)s
    ON CONFLICT (tenant_id, external_id) DO NOTHING
    RETURNING id
), moved AS (
    UPDATE vouchers
       SET status = %(new)s, status_changed_at = %(now)s, subscriber_id = %(subscriber_id)s,
           reserved_until = NULL
     WHERE tenant_id = %(tenant)s AND id = %(voucher_id)s
       AND CASE WHEN %(lapsed)s THEN status = 'reserved' AND reserved_until <= %(now)s
                ELSE status = %(expected)s END
       AND (NOT %(new_subscriber)s OR EXISTS (SELECT FROM joined))
 RETURNING *
), credited AS (
    INSERT INTO buckets (id, tenant_id, subscriber_id, balance_type, amount, expires_at,
                         created_at)
    SELECT b.id, %(tenant)s, %(subscriber_id)s, b.balance_type, b.amount, b.expires_at, %(now)s
      FROM moved,
           jsonb_to_recordset(%(buckets)s::jsonb)
           AS b(id bigint, balance_type text, amount bigint, expires_at timestamptz)
), recorded AS (
    INSERT INTO edrs (tenant_id, occurred_at, actor_key_id, operation, subject_type,
                      subject_id, status_before, status_after, amount_minor, currency, details)
    SELECT %(tenant)s, %(now)s, %(actor)s, e.operation, e.subject_type, e.subject_id,
           e.status_before, e.status_after, e.amount_minor, e.currency, e.details
      FROM moved,
           jsonb_to_recordset(%(edrs)s::jsonb)
           AS e(n int, operation text, subject_type text, subject_id text, status_before text,
                status_after text, amount_minor bigint, currency text, details jsonb)
     ORDER BY e.n
)
SELECT * FROM moved
"""


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where each record's columns sit in a row of the read (worked out once)."""

    voucher: list[tuple[str, int]]
    voucher_type: list[tuple[str, int]]
    lifecycle: list[tuple[str, int]]
    subscriber: list[tuple[str, int]]
    index: dict[str, int]

    @classmethod
    def of(cls, names: list[str]) -> _Shape:
        def group(prefix: str) -> list[tuple[str, int]]:
            return [(n[len(prefix) :], i) for i, n in enumerate(names) if n.startswith(prefix)]

        plain = [(n, i) for i, n in enumerate(names) if n in t.vouchers.c]
        return cls(
            plain, group("vt_"), group("lc_"), group("sb_"), {n: i for i, n in enumerate(names)}
        )


def _pick(row: tuple[Any, ...], columns: list[tuple[str, int]]) -> dict[str, Any]:
    return {name: row[i] for name, i in columns}


_shapes: dict[str, _Shape] = {}  # by read statement


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    names: tuple[str, ...]

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


_WRITE = _Statement(*_positional(_WRITE_SQL))


class QuickUse:
    """Reads and writes of one tenant on one connection; each statement commits itself."""

    def __init__(self, conn: Any, read: _Statement, tenant_id: uuid.UUID) -> None:
        self.conn = conn  # an asyncpg connection (untyped library)
        self.read = read
        self.tenant_id = tenant_id

    async def view(
        self, code_hash: bytes, scopes: Sequence[str], subscriber: str
    ) -> QuickView | None:
        params = {
            "tenant": self.tenant_id,
            "key": code_hash,
            "scopes": list(scopes),
            "external_id": subscriber,
        }
        try:
            row = await self.conn.fetchrow(self.read.sql, *self.read.args(params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("quick read failed", error=repr(exc))  # nothing written: slow path
            return None
        if row is None:
            return None
        shape = _shapes.get(self.read.sql)
        if shape is None:
            shape = _shapes.setdefault(self.read.sql, _Shape.of(list(row.keys())))
        at = shape.index
        view = VoucherView(
            voucher=_voucher(_pick(row, shape.voucher)),  # type: ignore[arg-type]
            voucher_type=_voucher_type(_pick(row, shape.voucher_type)),  # type: ignore[arg-type]
            lifecycle=_lifecycle(_pick(row, shape.lifecycle)),  # type: ignore[arg-type]
            barred_until=row[at["barred_until"]],
            subscriber=(
                _subscriber(_pick(row, shape.subscriber))  # type: ignore[arg-type]
                if row[at["sb_id"]] is not None
                else None
            ),
        )
        return QuickView(view, list(row[at["bucket_ids"]]), int(row[at["webhooks"]]))

    async def use(
        self,
        voucher: Voucher,
        expected: VoucherStatus,
        new: VoucherStatus,
        now: datetime,
        subscriber: Subscriber,
        new_subscriber: bool,
        buckets: Sequence[NewBucket],
        edrs: Sequence[EdrDraft],
        actor_key_id: uuid.UUID | None,
    ) -> Voucher | None:
        """The compare-and-set, the buckets and the EDRs (and ``subscriber`` when new) in one
        statement; None when the voucher is no longer ``expected`` or a new subscriber was
        created by another call meanwhile (then nothing was written)."""
        lapsed = expected is VoucherStatus.AVAILABLE and voucher.status is VoucherStatus.RESERVED
        params = {
            "tenant": self.tenant_id,
            "voucher_id": voucher.id,
            "expected": expected.value,
            "lapsed": lapsed,
            "new": new.value,
            "now": now,
            "subscriber_id": subscriber.id,
            "external_id": subscriber.external_id,
            "service_state": subscriber.service_state.value,
            "new_subscriber": new_subscriber,
            "actor": actor_key_id,
            # Rows travel as one JSON document each: cheaper to send than a dozen arrays.
            "buckets": [
                {
                    "id": b.id,
                    "balance_type": b.balance_type,
                    "amount": b.amount,
                    "expires_at": b.expires_at.isoformat() if b.expires_at else None,
                }
                for b in buckets
            ],
            "edrs": [{"n": n, **draft_columns(d)} for n, d in enumerate(edrs)],
        }
        try:
            moved = await self.conn.fetchrow(_WRITE.sql, *_WRITE.args(params))
        except asyncpg.PostgresError as exc:  # refused and rolled back as a whole
            log.warning("quick write refused", error=repr(exc))
            return None
        except (asyncpg.InterfaceError, OSError) as exc:  # sent, but did it commit?
            raise OutcomeUnknown() from exc
        return None if moved is None else _voucher(moved)


async def _json_codecs(conn: Any) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(_conn: Any) -> None:
    """Each statement here commits itself and none changes the session, so a connection goes
    back to the pool as it came: asyncpg's default reset (RESET ALL, UNLISTEN *, ...) would be
    one more round trip per redemption. An open transaction would still be rolled back."""


class QuickUses:
    """The pool behind ``QuickUse``: one per HTTP worker, opened on its event loop."""

    def __init__(self, database_url: str, size: int) -> None:
        url = make_url(database_url)
        self.dialect = url.get_dialect()()
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.size = size
        self.pool: Any = None
        self.read = _Statement("", ())

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=self.size,
            init=_json_codecs,
            reset=_nothing_to_reset,
            server_settings={"TimeZone": "UTC"},  # timestamps in UTC, as the domain works
        )
        sequence = await self.pool.fetchval("SELECT pg_get_serial_sequence('buckets', 'id')")
        if sequence is None:
            raise RuntimeError("the buckets table has no id sequence: is the schema migrated?")
        self.read = _Statement(*_positional(_read_sql(self.dialect, str(sequence))))

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    @asynccontextmanager
    async def tenant(self, tenant_id: uuid.UUID) -> AsyncIterator[QuickUse]:
        async with self.pool.acquire() as conn:
            yield QuickUse(conn, self.read, tenant_id)
