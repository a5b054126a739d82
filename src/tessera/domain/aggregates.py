"""Running aggregates per subscriber, declared by the tenant and readable in conditions as
``agg.<name>``. Windows are calendar day, calendar month (UTC) or rolling N days; a rolling
window is kept as one value per day and summed (or min/maxed) over the last N days when read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from tessera.domain.errors import Invalid
from tessera.domain.events import EVENT_TYPE, Event


@lru_cache(maxsize=4096)
def _day_key(day: date) -> str:
    return day.isoformat()


NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Function(StrEnum):
    SUM = "sum"
    COUNT = "count"
    MIN = "min"
    MAX = "max"


class Window(StrEnum):
    DAY = "day"
    MONTH = "month"
    ROLLING_DAYS = "rolling_days"


@dataclass(frozen=True, slots=True)
class AggregateDefinition:
    name: str
    event_type: str
    function: Function
    window: Window
    attribute: str | None = None  # not needed for count
    days: int | None = None  # rolling_days only

    def validated(self) -> AggregateDefinition:
        if not NAME.match(self.name):
            raise Invalid("name", "must be lower-case letters, digits and underscores (a CEL name)")
        if not EVENT_TYPE.match(self.event_type):
            raise Invalid("event_type", "must be an event type name")
        if self.function is not Function.COUNT and not self.attribute:
            raise Invalid("attribute", f"is required for {self.function.value}")
        if self.window is Window.ROLLING_DAYS:
            if self.days is None or not 1 <= self.days <= 366:
                raise Invalid("days", "must be 1 to 366 for a rolling window")
        elif self.days is not None:
            raise Invalid("days", "is only for rolling_days windows")
        return self

    def contribution(self, event: Event) -> int | float | None:
        """What this event adds; None when it does not count (other type, missing value)."""
        if event.type != self.event_type:
            return None
        if self.function is Function.COUNT:
            return 1
        value: Any = event.attributes.get(self.attribute or "")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value

    def bucket_key(self, moment: datetime) -> str:
        """The stored bucket an event at ``moment`` (UTC) falls into."""
        day = _day_key(moment.date())
        return day[:7] if self.window is Window.MONTH else day

    def read_keys(self, now: datetime) -> list[str]:
        """The buckets that make up the window as seen at ``now``."""
        if self.window is Window.ROLLING_DAYS:
            assert self.days is not None
            today = now.date()
            return [_day_key(today - timedelta(days=i)) for i in range(self.days)]
        return [self.bucket_key(now)]

    def window_bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The stretch of time (UTC, ``[from, until)``) whose events make up the value that a
        condition reads at ``now``."""
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        if self.window is Window.MONTH:
            first = start.replace(day=1)
            following = (first + timedelta(days=32)).replace(day=1)
            return first, following
        if self.window is Window.ROLLING_DAYS:
            assert self.days is not None
            return start - timedelta(days=self.days - 1), start + timedelta(days=1)
        return start, start + timedelta(days=1)

    def combine(self, values: list[float]) -> float | int:
        if not values:
            return 0
        if self.function is Function.MIN:
            return min(values)
        if self.function is Function.MAX:
            return max(values)
        total = sum(values)
        return int(total) if float(total).is_integer() else total
