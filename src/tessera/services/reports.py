"""Reports for finance: the revenue report (deferred, recognized, reversed, released)."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.adapters.db.repositories.reports import GroupKey
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.reports import Period, RevenueGrouping, RevenueLine, periods


@dataclass(frozen=True, slots=True)
class RevenueGroup:
    group: str | None  # the voucher type's or batch's id (None: by currency, or no batch)
    name: str | None  # the voucher type's name (group_by=type)
    currency: str
    line: RevenueLine


@dataclass(frozen=True, slots=True)
class RevenuePeriod:
    start: datetime
    end: datetime
    groups: list[RevenueGroup]
    totals: list[RevenueGroup]  # one per currency


@dataclass(frozen=True, slots=True)
class RevenueReport:
    since: datetime
    until: datetime
    period: Period
    group_by: RevenueGrouping
    periods: list[RevenuePeriod]


def revenue_report(
    uow: UnitOfWork,
    since: datetime,
    until: datetime,
    period: Period = Period.DAY,
    group_by: RevenueGrouping = RevenueGrouping.TYPE,
) -> RevenueReport:
    """Per period and group: the opening deferred balance, what was added, recognized by use
    and by expiry, reversed and released, and the closing balance (the next opening)."""
    spans = periods(since, until, period)
    starts = [start for start, _end in spans]
    with uow:
        balance = uow.reports.deferred_before(since, group_by)
        moves = uow.reports.moves(since, until, group_by, period)
        names: dict[str, str] = {}
        if group_by is RevenueGrouping.TYPE:
            for type_id in {k for (k, _cur) in balance} | {g[0] for _b, g, _m, _a in moves}:
                found = uow.voucher_types.get(uuid.UUID(type_id)) if type_id else None
                if found is not None and type_id is not None:
                    names[type_id] = found.spec.name
    by_period: list[dict[GroupKey, RevenueLine]] = [{} for _ in spans]
    for bucket, group, kind, amount in moves:
        index = bisect.bisect_right(starts, max(bucket, since)) - 1
        by_period[index].setdefault(group, RevenueLine()).add(kind, amount)
    out = []
    for (start, end), lines in zip(spans, by_period, strict=True):
        groups: list[RevenueGroup] = []
        totals: dict[str, RevenueLine] = {}
        for group in sorted(set(balance) | set(lines), key=lambda g: (g[1], g[0] or "")):
            line = lines.get(group, RevenueLine())
            line.opening_deferred = balance.get(group, 0)
            balance[group] = line.closing_deferred
            if not (line.opening_deferred or line.moved):
                continue
            key, currency = group
            groups.append(RevenueGroup(key, names.get(key) if key else None, currency, line))
            total = totals.setdefault(currency, RevenueLine())
            for name in _AMOUNTS:
                setattr(total, name, getattr(total, name) + getattr(line, name))
        out.append(
            RevenuePeriod(
                start, end, groups,
                [RevenueGroup(None, None, cur, line) for cur, line in sorted(totals.items())],
            )
        )  # fmt: skip
    return RevenueReport(since, until, period, group_by, out)


_AMOUNTS = (
    "opening_deferred", "added", "recognized_by_use", "recognized_by_expiry", "reversed",
    "released",
)  # fmt: skip
