"""Time is passed in, never read deep inside: tests move a clock instead of sleeping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def ensure_utc(moment: datetime, field: str = "time") -> datetime:
    """Naive datetimes are ambiguous across operators' time zones, so they are refused."""
    from tessera.domain.errors import Invalid

    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid(field, "must carry a time zone offset, for example 2026-01-31T23:59:00Z")
    return moment.astimezone(UTC)
