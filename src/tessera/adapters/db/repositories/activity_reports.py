"""The campaign and list reports' reads: rewards and list codes counted per campaign or list
and day (or month), grouped in the database, and the running totals before a span."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.repositories.reports import bucket_of, moment_of
from tessera.adapters.db.types import UTCDateTime
from tessera.domain.reports import Period

Counts = dict[tuple[uuid.UUID, datetime], list[int]]


class ActivityQueries(TenantScoped):
    table = t.rewards

    def _between(
        self, column: sa.ColumnElement[Any], since: datetime, until: datetime
    ) -> list[sa.ColumnElement[bool]]:
        return [
            column >= sa.literal(since, UTCDateTime),
            column < sa.literal(until, UTCDateTime),
        ]

    def _grouped(
        self,
        table: sa.Table,
        key: sa.ColumnElement[Any],
        at: sa.ColumnElement[Any],
        figures: list[sa.ColumnElement[Any]],
        where: list[sa.ColumnElement[bool]],
        period: Period,
    ) -> Counts:
        bucket = bucket_of(self.conn, at, period)
        stmt = (
            sa.select(key, bucket, *figures).where(self._mine(table), *where).group_by(key, bucket)
        )
        return {
            (uuid.UUID(str(k)), moment_of(b)): [int(x or 0) for x in rest]
            for k, b, *rest in self.conn.execute(stmt)
        }

    def rewards(self, since: datetime, until: datetime, period: Period) -> Counts:
        """Per campaign and period of ``rewarded_at``: rewarded events (each once), reward
        rows, subscribers (each once), their cost."""
        r = self.table.c
        return self._grouped(
            self.table, r.campaign_id, r.rewarded_at,
            [sa.func.count(sa.distinct(r.event_id)), sa.func.count(),
             sa.func.count(sa.distinct(r.subscriber)), sa.func.sum(r.cost_minor)],
            self._between(r.rewarded_at, since, until), period,
        )  # fmt: skip

    def reversals(self, since: datetime, until: datetime, period: Period) -> Counts:
        """Per campaign and period of ``reversed_at``: reward rows reversed, their cost."""
        r = self.table.c
        return self._grouped(
            self.table, r.campaign_id, r.reversed_at,
            [sa.func.count(), sa.func.sum(r.cost_minor)],
            [r.status == "reversed", *self._between(r.reversed_at, since, until)], period,
        )  # fmt: skip

    def spent_before(self, at: datetime) -> dict[uuid.UUID, int]:
        """Per campaign, the cost of its rewards standing just before ``at``."""
        r = self.table.c
        before = sa.literal(at, UTCDateTime)
        still = sa.or_(r.status != "reversed", r.reversed_at >= before)
        stmt = (
            sa.select(r.campaign_id, sa.func.sum(r.cost_minor))
            .where(self._mine(), r.rewarded_at < before, still)
            .group_by(r.campaign_id)
        )
        return {uuid.UUID(str(k)): int(v or 0) for k, v in self.conn.execute(stmt)}

    def list_uploads(self, since: datetime, until: datetime, period: Period) -> Counts:
        """Per list and period: codes accepted by uploads."""
        u = t.list_uploads.c
        return self._grouped(
            t.list_uploads, u.list_id, u.created_at, [sa.func.sum(u.accepted)],
            self._between(u.created_at, since, until), period,
        )  # fmt: skip

    def list_codes(self, column: str, since: datetime, until: datetime, period: Period) -> Counts:
        """Per list and period of the codes' ``column`` (issued_at, redeemed_at): how many."""
        c = t.list_codes.c
        return self._grouped(
            t.list_codes, c.list_id, c[column], [sa.func.count()],
            self._between(c[column], since, until), period,
        )  # fmt: skip

    def list_totals_before(self, at: datetime) -> dict[uuid.UUID, tuple[int, int]]:
        """Per list, the codes uploaded and issued (as the codes say now) before ``at``."""
        u, c = t.list_uploads.c, t.list_codes.c
        before = sa.literal(at, UTCDateTime)
        uploaded = self.conn.execute(
            sa.select(u.list_id, sa.func.sum(u.accepted))
            .where(self._mine(t.list_uploads), u.created_at < before)
            .group_by(u.list_id)
        )
        issued = self.conn.execute(
            sa.select(c.list_id, sa.func.count())
            .where(self._mine(t.list_codes), c.issued_at < before)
            .group_by(c.list_id)
        )
        out: dict[uuid.UUID, list[int]] = {}
        for k, n in uploaded:
            out.setdefault(uuid.UUID(str(k)), [0, 0])[0] = int(n or 0)
        for k, n in issued:
            out.setdefault(uuid.UUID(str(k)), [0, 0])[1] = int(n or 0)
        return {k: (a, b) for k, (a, b) in out.items()}
