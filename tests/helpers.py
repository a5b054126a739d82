"""Small helpers shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MovableClock:
    """A clock the test moves by hand: time-based rules are tested without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
