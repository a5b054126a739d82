"""GET /v1/reports/liability: what sold, unused vouchers (available or reserved) still owe,
their cost per type and currency and what they would grant per balance type; its value per
currency is the revenue report's closing deferred balance at the same instant. Both stores."""

from __future__ import annotations

from datetime import timedelta

from helpers import auth
from tessera.domain.catalog import BucketTemplate
from tessera.domain.statuses import Operation
from tessera.services import redemption
from vouchering import POLICY, by_serial, issue, make_type


def _liability(api, key, **params) -> list[tuple]:
    got = api.get("/v1/reports/liability", params=params, headers=auth(key))
    assert got.status_code == 200, got.text
    return [
        (ln["kind"], ln["vouchers"], ln["value_minor"], ln["balance_type"], ln["amount"])
        for ln in got.json()["lines"]
    ]


def test_liability_counts_sellable_vouchers_cost_and_grants(api, container, make_tenant):
    tid, key = make_tenant()
    _other, other_key = make_tenant()
    data = make_type(container, tid, cost=500, buckets=(BucketTemplate("data_mb", 1024, 30),))
    free = make_type(container, tid, cost=0, buckets=(BucketTemplate("airtime", 100, 30),))
    a, _ = issue(container, tid, data)
    issue(container, tid, data)
    c, _ = issue(container, tid, free)
    before = container.clock().isoformat()
    container.clock.advance(hours=1)
    redemption.redeem(
        container.uow(tid), container.code_secret, by_serial(a.serial, "2547"), POLICY
    )
    redemption.OPERATIONS[Operation.RESERVE](
        container.uow(tid), container.code_secret, by_serial(c.serial, "2548"), POLICY
    )  # reserved still owes
    now = _liability(api, key)
    assert sorted(now) == sorted([
        ("type", 1, 500, None, None), ("type", 1, 0, None, None),
        ("currency", 2, 500, None, None),
        ("balance_type", 1, None, "airtime", 100), ("balance_type", 1, None, "data_mb", 1024),
    ])  # fmt: skip
    then = _liability(api, key, as_of=before)
    assert ("currency", 3, 1000, None, None) in then
    assert ("balance_type", 2, None, "data_mb", 2048) in then
    assert _liability(api, other_key) == []
    # The value outstanding is the revenue report's closing deferred balance.
    revenue = api.get(
        "/v1/reports/revenue",
        params={
            "since": (container.clock() - timedelta(days=1)).isoformat(),
            "until": (container.clock() + timedelta(seconds=1)).isoformat(),
            "group_by": "currency",
        },
        headers=auth(key),
    ).json()
    assert revenue["periods"][-1]["totals"][0]["closing_deferred"] == 500
