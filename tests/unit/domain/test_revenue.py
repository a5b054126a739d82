"""The revenue ledger's rule: which status changes move a voucher's cost, and where to."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tessera.domain.errors import Invalid
from tessera.domain.reports import Period, periods
from tessera.domain.revenue import Movement, movement
from tessera.domain.statuses import TRANSITIONS, VoucherStatus

S = VoucherStatus


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, S.AVAILABLE, Movement.ADDED),
        (None, S.RESERVED, Movement.ADDED),
        (None, S.PENDING, None),
        (S.PENDING, S.AVAILABLE, Movement.ADDED),
        (S.AVAILABLE, S.PENDING, Movement.RELEASED),
        (S.AVAILABLE, S.USED, Movement.RECOGNIZED_BY_USE),
        (S.RESERVED, S.USED, Movement.RECOGNIZED_BY_USE),
        (S.AVAILABLE, S.EXPIRED, Movement.RECOGNIZED_BY_EXPIRY),
        (S.USED, S.AVAILABLE, Movement.REVERSED),
        (S.RESERVED, S.CANCELED, Movement.RELEASED),
        (S.AVAILABLE, S.CLOSED, Movement.RELEASED),
        (S.PENDING, S.CLOSED, None),
        (S.AVAILABLE, S.REISSUED, Movement.RELEASED),
        (S.AVAILABLE, S.RESERVED, None),
        (S.RESERVED, S.AVAILABLE, None),
    ],
)
def test_a_status_change_moves_the_cost_in_or_out_of_deferred(before, after, expected):
    assert movement(before, after) is expected


def test_every_transition_keeps_the_deferred_balance_equal_to_what_is_sellable():
    sellable = {S.AVAILABLE, S.RESERVED}
    for table in TRANSITIONS.values():
        for before, after in table.items():
            kind = movement(before, after)
            change = (after in sellable) - (before in sellable)
            assert (0 if kind is None else kind.sign) == change, (before, after)


def test_periods_are_cut_at_since_and_until_and_follow_months():
    at = lambda *a: datetime(*a, tzinfo=UTC)
    got = periods(at(2026, 11, 15, 6), at(2027, 1, 2), Period.MONTH)
    assert got == [
        (at(2026, 11, 15, 6), at(2026, 12, 1)),
        (at(2026, 12, 1), at(2027, 1, 1)),
        (at(2027, 1, 1), at(2027, 1, 2)),
    ]
    assert len(periods(at(2026, 12, 1), at(2026, 12, 3, 1), Period.DAY)) == 3
    with pytest.raises(Invalid):
        periods(at(2026, 12, 1), at(2026, 12, 1), Period.DAY)
