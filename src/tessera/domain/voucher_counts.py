"""Voucher status counts, now and as of a past instant (pure).

A pending voucher that was activated once is *frozen* (freezing is the one way back to
pending, and the first activation time is kept), so frozen stock is shown apart from stock
never activated. The counts as of an instant are the counts now, rewound through every
status change recorded since: each change gives its voucher back to the state it left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from tessera.domain.statuses import Operation, VoucherStatus, next_status

FROZEN = "frozen"
STATES: tuple[str, ...] = (
    "pending", FROZEN, "available", "reserved", "used", "canceled", "expired", "closed",
    "reissued",
)  # fmt: skip

# (voucher type id, batch id or None for a voucher issued on its own)
GroupKey = tuple[uuid.UUID, uuid.UUID | None]


def state_of(status: str, activated_before: bool) -> str:
    """The state a report shows: pending splits into pending (never activated) and frozen."""
    return FROZEN if status == VoucherStatus.PENDING.value and activated_before else status


def status_of(state: str) -> VoucherStatus:
    return VoucherStatus.PENDING if state == FROZEN else VoucherStatus(state)


def bulk_target(operation: Operation, source: str) -> str:
    """Where a batch or range operation takes a voucher in ``source``: back to pending is
    frozen (only freezing goes there, from available)."""
    target = next_status(status_of(source), operation)
    return FROZEN if target is VoucherStatus.PENDING else target.value


@dataclass
class StatusCounts:
    """Counts by group and state, which ``rewind`` takes back in time one change at a time."""

    by_group: dict[GroupKey, dict[str, int]] = field(default_factory=dict)

    def add(self, key: GroupKey, state: str | None, n: int) -> None:
        if state is not None and n:
            row = self.by_group.setdefault(key, dict.fromkeys(STATES, 0))
            row[state] += n

    def rewind(self, key: GroupKey, before: str | None, after: str | None, n: int) -> None:
        """Undo ``n`` changes from ``before`` to ``after`` (None: made, or purged)."""
        self.add(key, after, -n)
        self.add(key, before, n)

    def drop(self, keys: Iterable[GroupKey]) -> None:
        """Forget groups that did not exist yet (a batch made later)."""
        for key in set(keys):
            self.by_group.pop(key, None)
