"""The revenue report reconciles: over random sequences of operations (issue, batch and range
activation, freeze, unfreeze, cancel, uses with random activity times around expiry and
grace, reversals, reissues, cancels, closes, expiry sweeps, time passing), the closing
deferred balance at every moment equals the cost of the vouchers sellable and unused then,
each period's closing is the next one's opening, and every grouping adds up to the same
totals, on both stores."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tessera.adapters.db import tables as t
from tessera.domain.batches import BatchOperation, BatchRequest
from tessera.domain.catalog import VoucherTypeSpec
from tessera.domain.errors import DomainError
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.domain.reports import Period, RevenueGrouping
from tessera.domain.revenue import Movement
from tessera.domain.statuses import Operation
from tessera.services import batches, catalog, redemption, reports
from tessera.services.expiry import expire_tenant
from tessera.services.tenants import create_tenant
from vouchering import POLICY, by_serial, issue, make_type

USES = [Operation.REDEEM, Operation.RESERVE, Operation.CONFIRM, Operation.RELEASE]
OPERATOR = [Operation.REVERSE, Operation.REISSUE, Operation.CANCEL, Operation.CLOSE]
TINY = timedelta(microseconds=1)


def sellable_cost(container, tenant_id) -> dict[str, int]:
    """What the vouchers table says: the cost of every available or reserved voucher."""
    v, vt = t.vouchers.c, t.voucher_types.c
    stmt = (
        sa.select(vt.currency, sa.func.sum(vt.cost_minor))
        .select_from(t.vouchers.join(t.voucher_types, v.voucher_type_id == vt.id))
        .where(v.tenant_id == tenant_id, v.status.in_(["available", "reserved"]))
        .group_by(vt.currency)
    )
    with container.engine.connect() as conn:
        return {cur: int(n) for cur, n in conn.execute(stmt) if n}


def closing(report) -> dict[str, int]:
    last = report.periods[-1]
    return {g.currency: g.line.closing_deferred for g in last.totals if g.line.closing_deferred}


def run_machine(container, print_dir: Path) -> list[uuid.UUID]:
    tenants: list[uuid.UUID] = []

    class Ledger(RuleBasedStateMachine):
        @initialize()
        def tenant(self) -> None:
            self.start = container.clock()
            tenant, _ = create_tenant(container.directory(), f"rev-{uuid.uuid4().hex[:10]}")
            self.tid = tenant.id
            tenants.append(tenant.id)
            rules = dict(validity_days=10, grace_days=3, reservation_hold_seconds=600)
            self.types = [
                make_type(container, self.tid, cost=500, **rules),
                make_type(container, self.tid, cost=0, **rules),
            ]
            lifecycle = catalog.create_lifecycle(
                container.uow(self.tid),
                "from activation",
                LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=8, grace_days=2),
            )
            kes = catalog.create_voucher_type(
                container.uow(self.tid),
                VoucherTypeSpec(
                    name="scratch 300", cost_minor=300, currency="KES", lifecycle_id=lifecycle.id
                ),
            )
            self.batch_type = kes.id
            self.serials: list[int] = []
            self.batches: list[tuple[uuid.UUID, int, int]] = []
            for which in (0, 0, 0, 1):
                self.issue_one(which)
            self.make_batch(3)
            self.batch_operation(0, BatchOperation.ACTIVATE, False, 0)
            # A history that has every move at least once before the random steps start.
            first = self.serials[0]
            self._operate(0, Operation.REDEEM, "a", 0, serial=first)
            self._operate(0, Operation.REVERSE, None, 0, serial=first)

        def issue_one(self, which):
            voucher, _ = issue(container, self.tid, self.types[which])
            self.serials.append(voucher.serial)

        def make_batch(self, count):
            uow = lambda: container.uow(self.tid)
            batch = batches.create_batch(uow(), BatchRequest(self.batch_type, count), print_dir)
            done = batches.generate_batch(uow(), batch.id, container.code_secret)
            first, last = done.serials.first, done.serials.last
            self.batches.append((batch.id, first, last))
            self.serials.extend(range(first, last + 1))

        @rule(which=st.integers(0, 1), count=st.integers(0, 4))
        def more_vouchers(self, which, count):
            if count:
                self.make_batch(count)
            else:
                self.issue_one(which)

        @rule(
            pick=st.integers(0, 50),
            op=st.sampled_from(list(BatchOperation)),
            ranged=st.booleans(),
            cut=st.integers(0, 3),
        )
        def batch_operation(self, pick, op, ranged, cut):
            batch_id, first, last = self.batches[pick % len(self.batches)]
            lo, hi = (min(first + cut, last), last) if ranged else (None, None)
            with contextlib.suppress(DomainError):  # not allowed from the batch's state
                batches.operate(container.uow(self.tid), batch_id, op, lo, hi)

        def _operate(self, pick, op, who, back, serial=None):
            serial = serial or self.serials[-1 - pick % len(self.serials)]
            activity = container.clock() - timedelta(hours=back)
            request = by_serial(serial, who, activity_at=activity, reason="test")
            try:
                out = redemption.OPERATIONS[op](
                    container.uow(self.tid), container.code_secret, request, POLICY
                )
            except DomainError:
                return
            if out.replacement is not None:
                self.serials.append(out.replacement.serial)

        # Uses go to sellable vouchers, the operator's changes mostly to the newest ones.
        @rule(
            pick=st.integers(0, 3),
            op=st.sampled_from(USES),
            who=st.sampled_from(["a", "b"]),
            back=st.integers(0, 24 * 5),
        )
        def use(self, pick, op, who, back):
            v = t.vouchers.c
            with container.engine.connect() as conn:  # a voucher a use can apply to
                sellable = conn.execute(
                    sa.select(v.serial)
                    .where(v.tenant_id == self.tid, v.status.in_(["available", "reserved"]))
                    .order_by(v.serial.desc())
                ).all()
            if sellable:
                self._operate(0, op, who, back, serial=sellable[pick % len(sellable)][0])

        @rule(pick=st.integers(0, 3), op=st.sampled_from(OPERATOR))
        def operator(self, pick, op):
            self._operate(pick, op, None, 0)

        @rule(pick=st.integers(0, 3))
        def reverse_a_redemption(self, pick):
            """A redemption undone (the uses above rarely land on a used voucher)."""
            v, vt = t.vouchers.c, t.voucher_types.c
            with container.engine.connect() as conn:
                used = conn.execute(
                    sa.select(v.serial)
                    .select_from(t.vouchers.join(t.voucher_types, v.voucher_type_id == vt.id))
                    .where(v.tenant_id == self.tid, v.status == "used", vt.cost_minor > 0)
                    .order_by(v.serial.desc())
                ).all()
            if used:
                self._operate(0, Operation.REVERSE, None, 0, serial=used[pick % len(used)][0])

        @rule(hours=st.integers(0, 24 * 12), sweep=st.booleans())
        def time_passes(self, hours, sweep):
            container.clock.advance(hours=hours)
            if sweep:
                expire_tenant(container.uow(self.tid))

        @invariant()
        def deferred_is_the_cost_of_what_is_sellable(self):
            now = container.clock()
            report = reports.revenue_report(
                container.uow(self.tid), self.start - timedelta(days=1), now + TINY,
                Period.MONTH, RevenueGrouping.CURRENCY,
            )  # fmt: skip
            assert closing(report) == sellable_cost(container, self.tid), now

        def teardown(self):
            if not hasattr(self, "tid"):
                return
            until = container.clock() + TINY
            since = self.start - timedelta(days=1)
            by = {
                g: reports.revenue_report(container.uow(self.tid), since, until, Period.DAY, g)
                for g in RevenueGrouping
            }
            for report in by.values():
                for before, after in zip(report.periods, report.periods[1:], strict=False):
                    carried = {g.currency: g.line.closing_deferred for g in before.totals}
                    opened = {g.currency: g.line.opening_deferred for g in after.totals}
                    assert {k: v for k, v in carried.items() if v} == {
                        k: v for k, v in opened.items() if v
                    }
                    for line in after.groups:
                        match = [
                            g for g in before.groups
                            if (g.group, g.currency) == (line.group, line.currency)
                        ]  # fmt: skip
                        was = match[0].line.closing_deferred if match else 0
                        assert line.line.opening_deferred == was
            totals = {
                g: [[(x.currency, vars(x.line)) for x in p.totals] for p in r.periods]
                for g, r in by.items()
            }
            assert totals[RevenueGrouping.TYPE] == totals[RevenueGrouping.CURRENCY]
            assert totals[RevenueGrouping.BATCH] == totals[RevenueGrouping.CURRENCY]
            assert closing(by[RevenueGrouping.TYPE]) == sellable_cost(container, self.tid)

    Ledger.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=30,
        # The same runs every time: the test asserts that they made every kind of move, which
        # random runs missed now and then (recognized_by_expiry, once on SQLite).
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Ledger.TestCase().runTest()
    return tenants


def test_closing_deferred_is_the_cost_of_sellable_vouchers_at_every_moment(
    container, tmp_path: Path
):
    tenants = run_machine(container, tmp_path)
    c = t.revenue_movements.c
    with container.engine.connect() as conn:
        seen = set(
            conn.execute(sa.select(c.movement).where(c.tenant_id.in_(tenants)).distinct()).scalars()
        )
    # Every kind of move happened, so the reconciliation was tested on each.
    assert seen == {m.value for m in Movement}
