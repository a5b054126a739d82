"""What the console's dashboard shows: the last hours' redemptions, rewards and events, the
webhook endpoints that fail, the batches still generating and the lists low on stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tessera.adapters.db.repositories.dashboard import REDEMPTIONS, REWARDS, FailingEndpoint
from tessera.adapters.db.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class Overview:
    start: datetime  # the first hour shown
    hours: int
    redemptions: list[int]
    rewards: list[int]
    events: list[int]
    failing_endpoints: list[FailingEndpoint]
    generating: list[dict[str, Any]]
    low_stock: list[dict[str, Any]]


def overview(uow: UnitOfWork, hours: int = 24) -> Overview:
    with uow:
        now = uow.clock()
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        start = end - timedelta(hours=hours)
        q = uow.dashboard
        return Overview(
            start=start,
            hours=hours,
            redemptions=q.edrs_per_hour(REDEMPTIONS, start, hours),
            rewards=q.edrs_per_hour(REWARDS, start, hours),
            events=q.events_per_hour(start, hours),
            failing_endpoints=q.failing_endpoints(),
            generating=[dict(r) for r in q.batches_in_progress()],
            low_stock=[dict(r) for r in q.low_stock_lists()],
        )
