"""Small helpers shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


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


def redemption_paths(api: Any) -> dict[tuple[str, str], float]:
    """``tessera_redemption_path_total`` as /metrics says it: (path, reason) -> count."""
    found = {}
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("tessera_redemption_path_total{"):
            labels, value = line[len("tessera_redemption_path_total{") :].split("} ")
            pairs = dict(part.split("=") for part in labels.split(","))
            found[(pairs["path"].strip('"'), pairs["reason"].strip('"'))] = float(value)
    return found
