"""Each voucher change moves its cost between the revenue balances, as an EDR with the amount
and the currency, effective when finance counts it: a use at its activity time (reported in
the grace period too), an expiry when the grace period ended, the rest when they happen; a
voucher of cost zero moves nothing. Both stores; the batched redemption statement too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.domain.batches import BatchOperation, BatchRequest
from tessera.domain.statuses import Operation
from tessera.services import batches, redemption
from tessera.services.expiry import expire_tenant
from vouchering import POLICY, by_serial, issue, make_type


def movements(container, tid) -> list[tuple[str, int, str, object]]:
    c = t.revenue_movements.c
    with container.engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.movement, c.amount_minor, c.currency, c.effective_at, c.vouchers)
            .where(c.tenant_id == tid)
            .order_by(c.edr_id)
        ).all()
    return [tuple(r) for r in rows]


def revenue_edrs(container, tid) -> list[dict]:
    c = t.edrs.c
    with container.engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.select(t.edrs)
                .where(c.tenant_id == tid, c.operation.like("revenue.%"))
                .order_by(c.id)
            ).mappings()
        ]


def op(container, tid, operation, serial, who=None, **kw):
    return redemption.OPERATIONS[operation](
        container.uow(tid), container.code_secret, by_serial(serial, who, **kw), POLICY
    )


def test_issue_use_reverse_and_cancel_move_the_cost(container, tenant):
    tid = tenant[0]
    type_id = make_type(container, tid, cost=500, validity_days=10, grace_days=3)
    issued_at = container.clock()
    voucher, _ = issue(container, tid, type_id)
    container.clock.advance(days=11)  # past expiry, inside the grace period
    used_at = issued_at + timedelta(days=9)
    op(container, tid, Operation.REDEEM, voucher.serial, "2547001", activity_at=used_at)
    reversed_at = container.clock.advance(hours=1)
    op(container, tid, Operation.REVERSE, voucher.serial)
    canceled_at = container.clock.advance(hours=1)
    with pytest.raises(Exception):  # noqa: PT011 - past expiry: a cancel is refused
        op(container, tid, Operation.CANCEL, voucher.serial)
    got = [(m, a, cur, at) for m, a, cur, at, _n in movements(container, tid)]
    assert got == [
        ("added", 500, "EUR", issued_at),
        ("recognized_by_use", 500, "EUR", used_at),  # at the activity time
        ("reversed", 500, "EUR", reversed_at),
    ]
    assert canceled_at > reversed_at
    edrs = revenue_edrs(container, tid)
    assert [e["operation"] for e in edrs] == [
        "revenue.added", "revenue.recognized_by_use", "revenue.reversed",
    ]  # fmt: skip
    assert all(e["amount_minor"] == 500 and e["currency"] == "EUR" for e in edrs)
    assert edrs[1]["subject_id"] == str(voucher.serial)


def test_cancel_close_and_reissue_release_the_cost(container, tenant):
    tid = tenant[0]
    type_id = make_type(container, tid, cost=250)
    a, _ = issue(container, tid, type_id)
    b, _ = issue(container, tid, type_id)
    c, _ = issue(container, tid, type_id)
    op(container, tid, Operation.CANCEL, a.serial, reason="returned")
    op(container, tid, Operation.CLOSE, b.serial, reason="withdrawn")
    out = op(container, tid, Operation.REISSUE, c.serial, reason="damaged")
    kinds = [(m, a) for m, a, *_ in movements(container, tid)]
    assert kinds == [("added", 250)] * 3 + [("released", 250)] * 2 + [
        ("added", 250),  # the replacement in ...
        ("released", 250),  # ... the old one out
    ]
    assert out.replacement is not None


def test_expiry_is_recognized_when_the_grace_period_ended_not_when_swept(container, tenant):
    tid = tenant[0]
    type_id = make_type(container, tid, cost=700, validity_days=10, grace_days=3)
    issued_at = container.clock()
    issue(container, tid, type_id)
    container.clock.advance(days=20)
    expire_tenant(container.uow(tid))
    last = movements(container, tid)[-1]
    assert last[:2] == ("recognized_by_expiry", 700)
    assert last[3] == issued_at + timedelta(days=13)


def test_a_voucher_of_cost_zero_moves_nothing(container, tenant):
    tid = tenant[0]
    voucher, _ = issue(container, tid, make_type(container, tid, cost=0))
    op(container, tid, Operation.REDEEM, voucher.serial, "2547002")
    assert movements(container, tid) == []


def test_batch_and_range_operations_move_count_times_cost(container, tenant, tmp_path: Path):
    from batching import make_voucher_type  # cost 250 KES, 30 days from activation

    tid = tenant[0]
    vt = make_voucher_type(container, tid)
    uow = lambda: container.uow(tid)
    batch = batches.create_batch(uow(), BatchRequest(vt.id, 10), tmp_path)
    done = batches.generate_batch(uow(), batch.id, container.code_secret)
    first = done.serials.first
    assert movements(container, tid) == []  # pending stock was never sold
    batches.operate(uow(), batch.id, BatchOperation.ACTIVATE, first, first + 3)  # 4 sellable
    batches.operate(uow(), batch.id, BatchOperation.FREEZE)  # those 4 held back
    batches.operate(uow(), batch.id, BatchOperation.UNFREEZE)  # all 10 sellable
    op(container, tid, Operation.REDEEM, first, "2547003")
    batches.operate(uow(), batch.id, BatchOperation.CANCEL)  # 9 sellable ones closed
    got = [(m, a, n) for m, a, _cur, _at, n in movements(container, tid)]
    assert got == [
        ("added", 1000, 4),
        ("released", 1000, 4),
        ("added", 2500, 10),
        ("recognized_by_use", 250, 1),
        ("released", 2250, 9),
    ]
    assert {cur for _m, _a, cur, _at, _n in movements(container, tid)} == {"KES"}


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_the_batched_redemption_statement_writes_the_revenue_edr_too(container, tenant):
    from test_quick_redemption_batches import _redeem_together, _statement_sizes

    from vouchering import prepare

    tid = tenant[0]
    codes = prepare(container, tid, make_type(container, tid, cost=400), 3)
    sizes: list[int] = []
    outcomes = _redeem_together(
        container, [(tid, code, f"25471{n}") for n, code in enumerate(codes)],
        _statement_sizes(sizes),
    )  # fmt: skip
    assert all(o.voucher.status.value == "used" for o in outcomes)  # type: ignore[union-attr]
    assert sum(sizes) == 3
    assert [(m, a) for m, a, *_ in movements(container, tid)] == [("recognized_by_use", 400)] * 3
    assert len(revenue_edrs(container, tid)) == 3
