"""GET /v1/reports/status: voucher counts by state per type or batch; frozen stock apart
from pending; the counts as of a past instant are what the report said at that instant,
rewound from the EDRs (not today's statuses). Both stores."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from helpers import auth
from tessera.domain.batches import BatchOperation, BatchRequest
from tessera.domain.statuses import Operation
from tessera.services import batches, redemption
from vouchering import POLICY, by_serial, issue, make_type


def _op(container, tid, operation: Operation, serial: int, subscriber: str | None = None):
    redemption.OPERATIONS[operation](
        container.uow(tid), container.code_secret, by_serial(serial, subscriber), POLICY
    )


def _report(api, key, **params) -> dict:
    got = api.get("/v1/reports/status", params=params, headers=auth(key))
    assert got.status_code == 200, got.text
    return got.json()


def _without_as_of(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "as_of"}


def test_counts_as_of_an_instant_are_what_the_report_said_then(
    api, container, make_tenant, tmp_path: Path
):
    from batching import make_voucher_type

    tid, key = make_tenant()
    uow = lambda: container.uow(tid)
    vt = make_voucher_type(container, tid)
    single_type = make_type(container, tid)
    taken: list[tuple[str, dict, dict]] = []

    def snapshot() -> None:
        at = container.clock().isoformat()
        taken.append((at, _report(api, key, group_by="type"), _report(api, key, group_by="batch")))
        container.clock.advance(seconds=5)

    snapshot()  # nothing yet
    batch = batches.create_batch(uow(), BatchRequest(vt.id, 6), tmp_path)
    first = batches.generate_batch(uow(), batch.id, container.code_secret).serials.first
    snapshot()
    batches.operate(uow(), batch.id, BatchOperation.ACTIVATE, first, first + 3)
    snapshot()
    batches.operate(uow(), batch.id, BatchOperation.FREEZE, first, first + 1)
    snapshot()
    _op(container, tid, Operation.REDEEM, first + 2, "254700001")
    a, _ = issue(container, tid, single_type)
    b, _ = issue(container, tid, single_type)
    snapshot()
    _op(container, tid, Operation.CANCEL, a.serial)
    _op(container, tid, Operation.RESERVE, b.serial, "254700002")
    _op(container, tid, Operation.CLOSE, first + 4)  # never activated: pending to closed
    _op(container, tid, Operation.CLOSE, first)  # frozen to closed
    snapshot()
    batches.operate(uow(), batch.id, BatchOperation.UNFREEZE, first + 1, first + 5)
    _op(container, tid, Operation.REISSUE, b.serial)
    snapshot()
    batches.operate(uow(), batch.id, BatchOperation.CANCEL)
    snapshot()

    frozen_then = taken[3][1]["totals"]
    assert (frozen_then["pending"], frozen_then["frozen"], frozen_then["available"]) == (2, 2, 2)
    for at, by_type, by_batch in taken:
        assert _without_as_of(_report(api, key, as_of=at, group_by="type")) == _without_as_of(
            by_type
        ), at
        assert _without_as_of(_report(api, key, as_of=at, group_by="batch")) == _without_as_of(
            by_batch
        ), at
    last = taken[-1][1]["totals"]
    assert (last["closed"], last["used"], last["canceled"], last["reissued"]) == (5, 1, 1, 1)


def test_another_tenants_vouchers_are_not_counted(api, container, make_tenant):
    tid, key = make_tenant()
    _other, other_key = make_tenant()
    issue(container, tid, make_type(container, tid))
    assert _report(api, key)["totals"]["available"] == 1
    theirs = _report(api, other_key)
    assert theirs["lines"] == [] and theirs["totals"]["total"] == 0


def test_a_future_as_of_is_422_naming_it(api, container, tenant):
    got = api.get(
        "/v1/reports/status",
        params={"as_of": "2999-01-01T00:00:00Z"},
        headers=auth(tenant[1]),
    )
    assert got.status_code == 422 and "as_of" in got.text, got.text


def test_a_voucher_purged_since_still_counts_as_of_before_its_purge(api, container, make_tenant):
    from tessera.services.expiry import purge_tenant

    tid, key = make_tenant()
    type_id = make_type(container, tid, retention_days=1)
    a, _ = issue(container, tid, type_id)
    issue(container, tid, type_id)
    container.clock.advance(hours=1)
    _op(container, tid, Operation.REDEEM, a.serial, "254700001")
    container.clock.advance(hours=1)
    at = container.clock().isoformat()
    then = _report(api, key)
    container.clock.advance(days=2)
    assert purge_tenant(container.uow(tid)) == 1
    assert _report(api, key)["totals"]["used"] == 0  # its row is gone
    assert _without_as_of(_report(api, key, as_of=at)) == _without_as_of(then)
    before_use = _report(
        api, key, as_of=(container.clock() - timedelta(days=2, hours=1, minutes=30)).isoformat()
    )
    assert (before_use["totals"]["available"], before_use["totals"]["used"]) == (2, 0)
