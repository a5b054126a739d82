"""Report periods and the revenue report's arithmetic (pure).

A report runs from ``since`` to ``until`` (half-open, UTC) in periods of a day or a month;
the first and last periods are cut at ``since`` and ``until``. A period's closing deferred
balance is its opening plus what came in (added, reversed) minus what went out (recognized
by use or by expiry, released), and it is the next period's opening.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tessera.domain.errors import Invalid
from tessera.domain.revenue import Movement

MAX_PERIODS = 1000


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


class RevenueGrouping(StrEnum):
    TYPE = "type"
    BATCH = "batch"
    CURRENCY = "currency"


def period_start(at: datetime, period: Period) -> datetime:
    at = at.astimezone(UTC)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period is Period.DAY else day.replace(day=1)


def _next(start: datetime, period: Period) -> datetime:
    if period is Period.DAY:
        return start + timedelta(days=1)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def periods(since: datetime, until: datetime, period: Period) -> list[tuple[datetime, datetime]]:
    """The periods from ``since`` to ``until``; refused when ``until`` is not after
    ``since`` or when there would be more than ``MAX_PERIODS``."""
    if until <= since:
        raise Invalid("until", "must be after since")
    out: list[tuple[datetime, datetime]] = []
    start = since
    while start < until:
        try:
            end = min(_next(period_start(start, period), period), until)
        except (OverflowError, ValueError):  # past year 9999
            end = until
        out.append((start, end))
        if len(out) > MAX_PERIODS:
            raise Invalid(
                "until", f"more than {MAX_PERIODS} {period.value} periods: ask for a shorter span"
            )
        start = end
    return out


@dataclass
class RevenueLine:
    """One group's balances over one period."""

    opening_deferred: int = 0
    added: int = 0
    recognized_by_use: int = 0
    recognized_by_expiry: int = 0
    reversed: int = 0
    released: int = 0

    def add(self, kind: Movement, amount: int) -> None:
        setattr(self, kind.value, getattr(self, kind.value) + amount)

    @property
    def closing_deferred(self) -> int:
        return (
            self.opening_deferred
            + self.added
            + self.reversed
            - self.recognized_by_use
            - self.recognized_by_expiry
            - self.released
        )

    @property
    def moved(self) -> bool:
        return any(
            (self.added, self.recognized_by_use, self.recognized_by_expiry, self.reversed,
             self.released)
        )  # fmt: skip
