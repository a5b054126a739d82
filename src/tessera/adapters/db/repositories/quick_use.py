"""The point of sale's common case on PostgreSQL in two round trips: one read, one write.

A redemption through the unit of work costs a BEGIN, five statements and a COMMIT, each a
round trip with SQLAlchemy's per-statement work on top. Here the read returns the voucher
with its type, its lifecycle, the caller's bar, the subscriber and the ids of the buckets
to be credited (drawn from their sequence); the rules decide in Python as usual; then one
statement writes everything: its first part is the compare-and-set on the voucher's status,
and the bucket, EDR inserts read from it, so they happen only if the voucher moved. A single
statement is its own transaction, so the voucher, the wallet and the records commit together
or not at all.

Both statements are compiled once from the table definitions and run as prepared
statements on an asyncio psycopg pool in autocommit: the HTTP worker awaits them on its event
loop, with no thread hand-off and no other thread to share the interpreter with.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.catalog import _lifecycle, _voucher_type
from tessera.adapters.db.repositories.subscribers import _subscriber
from tessera.adapters.db.repositories.vouchers import (
    VoucherView,
    _prefixed,
    _view_statement,
    _voucher,
)
from tessera.domain.edr import EdrDraft
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.domain.wallet import Subscriber

fa = t.failed_attempts


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
def _read_sql(dialect: sa.Dialect) -> str:
    tenant = sa.bindparam("tenant", type_=sa.Uuid)
    bar = (
        sa.select(sa.func.max(fa.c.barred_until))
        .where(fa.c.tenant_id == tenant, fa.c.scope == sa.func.any(sa.bindparam("scopes")))
        .scalar_subquery()
    )
    bucket_ids = sa.text(
        "ARRAY(SELECT nextval(pg_get_serial_sequence('buckets', 'id')) "
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
           unnest(%(bucket_ids)s::bigint[], %(balance_types)s::text[], %(amounts)s::bigint[],
                  %(expiries)s::timestamptz[]) AS b(id, balance_type, amount, expires_at)
), recorded AS (
    INSERT INTO edrs (tenant_id, occurred_at, actor_key_id, operation, subject_type,
                      subject_id, status_before, status_after, amount_minor, currency, details)
    SELECT %(tenant)s, %(now)s, %(actor)s, e.operation, e.subject_type, e.subject_id,
           e.status_before, e.status_after, e.amount_minor, e.currency, e.details::jsonb
      FROM moved,
           unnest(%(operations)s::text[], %(subject_types)s::text[], %(subject_ids)s::text[],
                  %(befores)s::text[], %(afters)s::text[], %(edr_amounts)s::bigint[],
                  %(currencies)s::text[], %(details)s::text[])
           WITH ORDINALITY AS e(operation, subject_type, subject_id, status_before,
                                status_after, amount_minor, currency, details, n)
     ORDER BY e.n
)
SELECT * FROM moved
"""


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """The session's time zone may be any; the domain works in UTC."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in row.items()}


class QuickUse:
    """Reads and writes of one tenant on an autocommit connection (no BEGIN, no COMMIT)."""

    def __init__(
        self, conn: AsyncConnection[Any], dialect: sa.Dialect, tenant_id: uuid.UUID
    ) -> None:
        self.conn = conn
        self.dialect = dialect
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
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_read_sql(self.dialect), params, prepare=True)
            found = await cur.fetchone()
        if found is None:
            return None
        row = _utc(found)
        view = VoucherView(
            voucher=_voucher(row),  # type: ignore[arg-type]
            voucher_type=_voucher_type(_prefixed(row, "vt_")),  # type: ignore[arg-type]
            lifecycle=_lifecycle(_prefixed(row, "lc_")),  # type: ignore[arg-type]
            barred_until=row["barred_until"],
            subscriber=(
                _subscriber(_prefixed(row, "sb_"))  # type: ignore[arg-type]
                if row["sb_id"] is not None
                else None
            ),
        )
        return QuickView(view, list(row["bucket_ids"]), int(row["webhooks"]))

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
            "bucket_ids": [b.id for b in buckets],
            "balance_types": [b.balance_type for b in buckets],
            "amounts": [b.amount for b in buckets],
            "expiries": [b.expires_at for b in buckets],
            "operations": [d.operation for d in edrs],
            "subject_types": [d.subject_type for d in edrs],
            "subject_ids": [d.subject_id for d in edrs],
            "befores": [d.status_before for d in edrs],
            "afters": [d.status_after for d in edrs],
            "edr_amounts": [d.amount_minor for d in edrs],
            "currencies": [d.currency for d in edrs],
            "details": [json.dumps(d.details) for d in edrs],
        }
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_WRITE_SQL, params, prepare=True)
            moved = await cur.fetchone()
        return None if moved is None else _voucher(_utc(moved))  # type: ignore[arg-type]


class QuickUses:
    """The pool behind ``QuickUse``: one per HTTP worker, opened on its event loop."""

    def __init__(self, database_url: str, size: int) -> None:
        url = make_url(database_url)
        self.dialect = url.get_dialect()()
        self.pool = AsyncConnectionPool(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            open=False,
        )

    async def open(self) -> None:
        await self.pool.open()

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def tenant(self, tenant_id: uuid.UUID) -> AsyncIterator[QuickUse]:
        async with self.pool.connection() as conn:
            yield QuickUse(conn, self.dialect, tenant_id)
