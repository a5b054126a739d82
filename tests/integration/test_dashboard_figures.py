"""The dashboard's counts per hour: each EDR in the hour it happened, the last 24 hours only,
the tenant's own only (on both stores, whose hour expressions differ)."""

from __future__ import annotations

from datetime import timedelta

from tessera.domain.edr import EdrDraft
from tessera.services.dashboard import overview


def _redeemed(container, tenant_id, at, n):
    with container.uow(tenant_id) as uow:
        uow.edrs.append_many([EdrDraft("voucher.redeem", "voucher", str(i)) for i in range(n)], at)
        uow.commit()


def test_each_redemption_counts_in_its_hour_of_the_last_day_for_its_tenant_only(
    container, make_tenant, clock
):
    mine, _ = make_tenant()
    other, _ = make_tenant()
    now = clock.advance(minutes=37)  # 12:37
    _redeemed(container, mine, now - timedelta(minutes=5), 3)  # 12:32, this hour
    _redeemed(container, mine, now - timedelta(hours=1, minutes=30), 2)  # 11:07
    _redeemed(container, mine, now - timedelta(hours=23, minutes=36), 4)  # 13:01 yesterday
    _redeemed(container, mine, now - timedelta(hours=24), 7)  # 12:37 yesterday: too old
    _redeemed(container, other, now, 5)
    seen = overview(container.uow(mine))
    assert seen.start == now.replace(minute=0) - timedelta(hours=23)
    assert seen.redemptions[-1] == 3
    assert seen.redemptions[-2] == 2
    assert seen.redemptions[0] == 4
    assert sum(seen.redemptions) == 9
    assert sum(seen.rewards) == 0
