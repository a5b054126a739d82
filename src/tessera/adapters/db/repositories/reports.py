"""The reports' reads: sums over the revenue ledger's moves (``revenue_movements``), grouped
in the database, so a report reads a few rows per group and period however many moves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.types import UTCDateTime
from tessera.domain.reports import Period, RevenueGrouping
from tessera.domain.revenue import Movement

GroupKey = tuple[str | None, str]  # (type id, batch id or None for currency; currency)
INCOMING = [Movement.ADDED.value, Movement.REVERSED.value]


class ReportQueries(TenantScoped):
    table = t.revenue_movements

    def _key(self, group_by: RevenueGrouping) -> sa.ColumnElement[Any]:
        c = self.table.c
        if group_by is RevenueGrouping.TYPE:
            return c.voucher_type_id
        if group_by is RevenueGrouping.BATCH:
            return c.batch_id
        return sa.literal(None, sa.Uuid)

    def _bucket(self, period: Period) -> sa.ColumnElement[Any]:
        return bucket_of(self.conn, self.table.c.effective_at, period)

    @staticmethod
    def _group(key: Any, currency: str) -> GroupKey:
        return (None if key is None else str(uuid.UUID(str(key))), currency)

    def deferred_before(self, at: datetime, group_by: RevenueGrouping) -> dict[GroupKey, int]:
        """The deferred balance of each group just before ``at``."""
        c = self.table.c
        key = self._key(group_by)
        signed = sa.case((c.movement.in_(INCOMING), c.amount_minor), else_=-c.amount_minor)
        stmt = (
            self._select(key, c.currency, sa.func.sum(signed))
            .where(c.effective_at < sa.literal(at, UTCDateTime))
            .group_by(key, c.currency)
        )
        return {self._group(k, cur): int(total) for k, cur, total in self.conn.execute(stmt)}

    def moves(
        self, since: datetime, until: datetime, group_by: RevenueGrouping, period: Period
    ) -> list[tuple[datetime, GroupKey, Movement, int]]:
        """(start of the day or month, group, movement, amount) of the moves in
        ``[since, until)``."""
        c = self.table.c
        key, bucket = self._key(group_by), self._bucket(period)
        stmt = (
            self._select(bucket, key, c.currency, c.movement, sa.func.sum(c.amount_minor))
            .where(
                c.effective_at >= sa.literal(since, UTCDateTime),
                c.effective_at < sa.literal(until, UTCDateTime),
            )
            .group_by(bucket, key, c.currency, c.movement)
        )
        return [
            (moment_of(b), self._group(k, cur), Movement(m), int(total))
            for b, k, cur, m, total in self.conn.execute(stmt)
        ]


def bucket_of(
    conn: sa.Connection, at: sa.ColumnElement[Any], period: Period
) -> sa.ColumnElement[Any]:
    """The UTC day or month ``at`` falls in, as the store computes it (``moment_of`` reads it)."""
    if conn.dialect.name == "postgresql":
        trunc: sa.ColumnElement[Any] = sa.func.date_trunc(period.value, at, "UTC")
        return trunc
    day: sa.ColumnElement[Any] = sa.func.strftime(
        "%Y-%m-%d" if period is Period.DAY else "%Y-%m", at
    )
    return day


def moment_of(bucket: Any) -> datetime:
    """The bucket as a UTC time: PostgreSQL's date_trunc, or SQLite's '2026-12-07' or '2026-12'."""
    if isinstance(bucket, datetime):
        return bucket.astimezone(UTC)
    text = str(bucket)
    return datetime.fromisoformat(text if len(text) > 7 else f"{text}-01").replace(tzinfo=UTC)
