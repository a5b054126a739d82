"""The console dashboard's figures: counts per hour and what needs attention, in a few
statements each scoped to the tenant (one pass over the hours' range per series)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.batches import BatchState
from tessera.domain.notifications import NotificationStatus

REDEMPTIONS = ("voucher.redeem", "voucher.confirm")
REWARDS = ("reward.grant",)


@dataclass(frozen=True, slots=True)
class FailingEndpoint:
    endpoint_id: uuid.UUID
    url: str
    dead: int
    retrying: int
    last_error: str | None


class DashboardQueries(TenantScoped):
    table = t.edrs

    def _hour_of(self, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[Any]:
        """An expression naming the hour of ``column``, cheap enough for every row: SQLite
        keeps the time as 'YYYY-MM-DD HH:MM:SS...' (the first 13 characters are the hour),
        PostgreSQL counts hours since the epoch."""
        if self.conn.dialect.name == "sqlite":
            return sa.type_coerce(sa.func.substr(column, 1, 13), sa.String)
        return sa.func.floor(sa.extract("epoch", column) / 3600)

    def _hour_start(self, key: Any) -> datetime:
        if self.conn.dialect.name == "sqlite":
            return datetime.strptime(str(key), "%Y-%m-%d %H").replace(tzinfo=UTC)
        return datetime.fromtimestamp(int(key) * 3600, UTC)

    def _hourly(
        self,
        table: sa.Table,
        column: sa.ColumnElement[datetime],
        start: datetime,
        hours: int,
        *where: sa.ColumnElement[bool],
    ) -> list[int]:
        # One pass over the range, grouped by an hour key (a comparison per hour per row
        # took 367 ms for 33,000 EDRs on SQLite).
        hour = self._hour_of(column).label("hour")
        stmt = (
            sa.select(hour, sa.func.count())
            .where(
                self._mine(table),
                column >= start,
                column < start + timedelta(hours=hours),
                *where,
            )
            .group_by(hour)
        )
        counts = [0] * hours
        for key, n in self.conn.execute(stmt):
            index = int((self._hour_start(key) - start) / timedelta(hours=1))
            if 0 <= index < hours:
                counts[index] += int(n)
        return counts

    def edrs_per_hour(self, operations: tuple[str, ...], start: datetime, hours: int) -> list[int]:
        c = t.edrs.c
        return self._hourly(t.edrs, c.occurred_at, start, hours, c.operation.in_(operations))

    def events_per_hour(self, start: datetime, hours: int) -> list[int]:
        return self._hourly(t.events, t.events.c.occurred_at, start, hours)

    def failing_endpoints(self, limit: int = 10) -> list[FailingEndpoint]:
        n, e = t.notifications.c, t.webhook_endpoints.c
        dead = sa.func.sum(sa.case((n.status == NotificationStatus.DEAD.value, 1), else_=0))
        retrying = sa.func.sum(
            sa.case(((n.status == NotificationStatus.PENDING.value) & (n.attempts > 0), 1), else_=0)
        )
        stmt = (
            sa.select(e.id, e.url, dead.label("dead"), retrying.label("retrying"),
                      sa.func.max(n.last_error).label("last_error"))
            .join_from(t.notifications, t.webhook_endpoints, n.endpoint_id == e.id)
            .where(
                self._mine(t.notifications),
                e.tenant_id == self.tenant_id,
                n.status.in_([NotificationStatus.DEAD.value, NotificationStatus.PENDING.value]),
                n.last_error.is_not(None),
            )
            .group_by(e.id, e.url)
            .order_by(dead.desc(), e.id)
            .limit(limit)
        )  # fmt: skip
        return [
            FailingEndpoint(r.id, r.url, int(r.dead or 0), int(r.retrying or 0), r.last_error)
            for r in self.conn.execute(stmt)
        ]

    def batches_in_progress(self, limit: int = 10) -> list[sa.RowMapping]:
        b = t.batches.c
        stmt = (
            sa.select(b.id, b.requested, b.generated, b.created_at)
            .where(self._mine(t.batches), b.state == BatchState.GENERATING.value)
            .order_by(b.created_at)
            .limit(limit)
        )
        return list(self.conn.execute(stmt).mappings())

    def low_stock_lists(self, limit: int = 10) -> list[sa.RowMapping]:
        """Lists whose low-stock alert was raised (and not re-armed by a top-up)."""
        c, s = t.voucher_lists.c, t.list_issued_slots.c
        slots = (  # a list's issued figure is its row's plus its slots' (repositories/lists.py)
            sa.select(sa.cast(sa.func.coalesce(sa.func.sum(s.issued), 0), sa.BigInteger))
            .where(s.tenant_id == c.tenant_id, s.list_id == c.id)
            .scalar_subquery()
        )
        stmt = (
            sa.select(
                c.id,
                c.name,
                c.partner,
                c.uploaded,
                (c.issued + slots).label("issued"),
                c.low_stock_percent,
            )
            .where(self._mine(t.voucher_lists), c.low_stock_armed.is_(False))
            .order_by(c.name)
            .limit(limit)
        )
        return list(self.conn.execute(stmt).mappings())
