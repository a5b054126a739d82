"""Partner settlement periods: closing one (the rewards and reversals it takes, its lines
written once) and reading statements, closed (their stored lines) or open (what no closed
statement took yet), summed in the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.types import UTCDateTime
from tessera.domain.errors import Conflict

LINE_FIGURES = (
    "events", "rewards", "amount_minor", "events_reversed", "reversed", "reversed_minor",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SettlementPeriod:
    seq: int
    starts_at: datetime | None
    ends_at: datetime
    closed_at: datetime
    closed_by: uuid.UUID | None


Line = dict[str, Any]  # partner, currency and LINE_FIGURES
Condition = sa.ColumnElement[bool] | sa.TextClause


class SettlementRepository(TenantScoped):
    table = t.settlement_periods

    def periods(self) -> list[SettlementPeriod]:
        c = self.table.c
        stmt = self._select(c.seq, c.starts_at, c.ends_at, c.closed_at, c.closed_by).order_by(c.seq)
        return [SettlementPeriod(*row) for row in self.conn.execute(stmt)]

    def last(self) -> SettlementPeriod | None:
        c = self.table.c
        stmt = (
            self._select(c.seq, c.starts_at, c.ends_at, c.closed_at, c.closed_by)
            .order_by(c.seq.desc())
            .limit(1)
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else SettlementPeriod(*row)

    def close(self, period: SettlementPeriod) -> list[Line]:
        """Claims ``period.seq`` (a close racing this one for it fails here), takes every
        reward granted before its end and every reversal before its end of a reward a
        statement already took, and writes the statement's lines from them."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    self._insert(
                        seq=period.seq,
                        starts_at=period.starts_at,
                        ends_at=period.ends_at,
                        closed_at=period.closed_at,
                        closed_by=period.closed_by,
                    )
                )
        except sa.exc.IntegrityError:
            raise Conflict(
                "another close of this period ran at the same time", code="period_close_raced"
            ) from None
        r = t.rewards.c
        end = sa.literal(period.ends_at, UTCDateTime)
        self.conn.execute(
            sa.update(t.rewards)
            .where(self._mine(t.rewards), sa.text(t.UNSETTLED), r.rewarded_at < end)
            .values(granted_in=period.seq)
        )
        self.conn.execute(
            sa.update(t.rewards)
            .where(
                self._mine(t.rewards),
                sa.text(t.REVERSAL_UNSETTLED),
                r.granted_in.is_not(None),
                r.reversed_at < end,
            )
            .values(reversal_in=period.seq)
        )
        lines = self._lines(r.granted_in == period.seq, r.reversal_in == period.seq)
        if lines:
            self.conn.execute(
                sa.insert(t.settlement_lines),
                [{"tenant_id": self.tenant_id, "seq": period.seq, **ln} for ln in lines],
            )
        return lines

    def closed_lines(self, seqs: list[int]) -> dict[int, list[Line]]:
        if not seqs:
            return {}
        c = t.settlement_lines.c
        stmt = (
            sa.select(c.seq, c.partner, c.currency, *(c[f] for f in LINE_FIGURES))
            .where(self._mine(t.settlement_lines), c.seq.in_(seqs))
            .order_by(c.seq, c.partner, c.currency)
        )
        out: dict[int, list[Line]] = {}
        for row in self.conn.execute(stmt).mappings():
            out.setdefault(row["seq"], []).append({k: row[k] for k in row if k != "seq"})
        return out

    def open_lines(self) -> list[Line]:
        """The open statement: every reward and reversal no closed statement took."""
        return self._lines(sa.text(t.UNSETTLED), sa.text(t.REVERSAL_UNSETTLED))

    def _lines(self, granted: Condition, reversal: Condition) -> list[Line]:
        r = t.rewards.c
        lines: dict[tuple[str, str], Line] = {}
        for where, figures in (
            (granted, ("events", "rewards", "amount_minor")),
            (reversal, ("events_reversed", "reversed", "reversed_minor")),
        ):
            stmt = (
                sa.select(
                    r.funding_partner,
                    r.currency,
                    sa.func.count(sa.distinct(r.event_id)),
                    sa.func.count(),
                    sa.func.sum(r.cost_minor),
                )
                .where(self._mine(t.rewards), r.funding_partner.is_not(None), where)
                .group_by(r.funding_partner, r.currency)
            )
            for partner, currency, *numbers in self.conn.execute(stmt):
                line = lines.setdefault(
                    (partner, currency),
                    {"partner": partner, "currency": currency, **dict.fromkeys(LINE_FIGURES, 0)},
                )
                for name, value in zip(figures, numbers, strict=True):
                    line[name] = int(value or 0)
        return [lines[k] for k in sorted(lines)]
