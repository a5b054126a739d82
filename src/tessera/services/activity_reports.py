"""Campaign results and list utilization over time, per day or month.

Campaigns: per campaign and period, the events that matched and were rewarded (each once),
the reward rows, the subscribers rewarded (each once), their cost, what was reversed, and
the budget left at the period's end (the total budget less the cost standing then).
Lists: per list and period, codes uploaded, issued and reported redeemed, and the codes
left at the period's end (uploaded less issued so far), counted from each code as it is
now (a code given back by a reversed reward counts as never issued)."""

from __future__ import annotations

import bisect
import uuid
from datetime import datetime
from typing import Any

from tessera.adapters.db.repositories.activity_reports import Counts
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.reports import Period, periods

Row = dict[str, Any]


def _by_span(
    counts: Counts, since: datetime, starts: list[datetime], width: int
) -> dict[tuple[uuid.UUID, int], list[int]]:
    """The database's day or month buckets placed in the report's periods (the first one
    starts at ``since``, not at midnight)."""
    out: dict[tuple[uuid.UUID, int], list[int]] = {}
    for (key, bucket), figures in counts.items():
        index = bisect.bisect_right(starts, max(bucket, since)) - 1
        total = out.setdefault((key, index), [0] * width)
        for i, value in enumerate(figures):
            total[i] += value
    return out


def campaign_report(
    uow: UnitOfWork, since: datetime, until: datetime, period: Period = Period.DAY
) -> list[Row]:
    spans = periods(since, until, period)
    starts = [s for s, _e in spans]
    with uow:
        granted = _by_span(uow.activity.rewards(since, until, period), since, starts, 4)
        reversed_ = _by_span(uow.activity.reversals(since, until, period), since, starts, 2)
        spent = uow.activity.spent_before(since)
        ids = {k for k, _i in granted} | {k for k, _i in reversed_}
        campaigns = {cid: uow.campaigns.get(cid) for cid in ids}
    rows: list[Row] = []
    names = {cid: "" if c is None else c.spec.name for cid, c in campaigns.items()}
    for cid in sorted(ids, key=lambda c: (names[c], str(c))):
        campaign = campaigns[cid]
        budget = None if campaign is None else campaign.spec.caps.total_budget_minor
        standing = spent.get(cid, 0)
        for index, (start, end) in enumerate(spans):
            events, rewards, subscribers, cost = granted.get((cid, index), [0, 0, 0, 0])
            reversed_rows, reversed_minor = reversed_.get((cid, index), [0, 0])
            standing += cost - reversed_minor
            if not (rewards or reversed_rows):
                continue
            rows.append({
                "start": start, "end": end, "campaign_id": str(cid),
                "campaign": None if campaign is None else campaign.spec.name,
                "currency": None if campaign is None else campaign.spec.currency,
                "events": events, "rewards": rewards, "subscribers": subscribers,
                "cost_minor": cost, "reversed": reversed_rows, "reversed_minor": reversed_minor,
                "budget_minor": budget,
                "budget_left_minor": None if budget is None else budget - standing,
            })  # fmt: skip
    return rows


def list_report(
    uow: UnitOfWork, since: datetime, until: datetime, period: Period = Period.DAY
) -> list[Row]:
    """A key bound to lists (a partner's) sees those lists only."""
    spans = periods(since, until, period)
    starts = [s for s, _e in spans]
    with uow:
        uploaded = _by_span(uow.activity.list_uploads(since, until, period), since, starts, 1)
        issued = _by_span(
            uow.activity.list_codes("issued_at", since, until, period), since, starts, 1
        )
        redeemed = _by_span(
            uow.activity.list_codes("redeemed_at", since, until, period), since, starts, 1
        )
        before = uow.activity.list_totals_before(since)
        ids = {k for k, _i in uploaded} | {k for k, _i in issued} | {k for k, _i in redeemed}
        ids |= set(before)
        if uow.bound_lists is not None:
            ids &= uow.bound_lists
        lists = {lid: uow.lists.get(lid) for lid in ids}
    rows: list[Row] = []
    names = {lid: "" if found is None else found.spec.name for lid, found in lists.items()}
    for lid in sorted(ids, key=lambda i: (names[i], str(i))):
        found = lists[lid]
        total_uploaded, total_issued = before.get(lid, (0, 0))
        for index, (start, end) in enumerate(spans):
            up = uploaded.get((lid, index), [0])[0]
            out = issued.get((lid, index), [0])[0]
            used = redeemed.get((lid, index), [0])[0]
            total_uploaded += up
            total_issued += out
            if not (up or out or used):
                continue
            rows.append({
                "start": start, "end": end, "list_id": str(lid),
                "list": None if found is None else found.spec.name,
                "partner": None if found is None else found.spec.partner,
                "uploaded": up, "issued": out, "redeemed": used,
                "issued_total": total_issued, "remaining": total_uploaded - total_issued,
            })  # fmt: skip
    return rows
