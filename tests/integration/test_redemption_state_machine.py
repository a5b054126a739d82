"""Random sequences of operations, with random activity times around expiry and grace,
against the store: the status follows the transition table and the wallet the credits."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tessera.domain.errors import DomainError
from tessera.domain.statuses import TRANSITIONS, Operation, VoucherStatus
from tessera.services import redemption, wallets
from tessera.services.expiry import expire_tenant
from tessera.services.tenants import create_tenant
from vouchering import POLICY, by_serial, issue, make_type

S = VoucherStatus
VALIDITY, GRACE, HOLD = timedelta(days=10), timedelta(days=3), timedelta(seconds=600)
OPS = [op for op in redemption.OPERATIONS]


def run_machine(container) -> None:
    class Vouchers(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.start = container.clock.now
            tenant, _ = create_tenant(container.directory(), f"sm-{uuid.uuid4().hex[:10]}")
            self.tid = tenant.id
            self.type_id = make_type(
                container, self.tid, validity_days=10, grace_days=3, reservation_hold_seconds=600
            )
            self.voucher, _code = issue(container, self.tid, self.type_id)
            self.issued = container.clock()
            self.status = S.AVAILABLE
            self.reserved_until = None
            self.reserver: str | None = None
            self.holder: str | None = None
            self.wallet = {"a": 0, "b": 0}

        def effective(self, now):
            if self.status is S.RESERVED and self.reserved_until <= now:
                return S.AVAILABLE
            return self.status

        @rule(hours=st.integers(0, 24 * 16))
        def time_passes(self, hours):
            container.clock.advance(hours=hours)

        @rule()
        def sweep(self):
            now = container.clock()
            expire_tenant(container.uow(self.tid))
            expiry = self.issued + VALIDITY
            if self.effective(now) is S.AVAILABLE and now >= expiry + GRACE:
                self.status = S.EXPIRED
            elif self.status is S.RESERVED and self.reserved_until <= now:
                self.status = S.AVAILABLE

        @rule(
            op=st.sampled_from(OPS),
            who=st.sampled_from(["a", "b", None]),
            back=st.integers(0, 24 * 5),
        )
        def operate(self, op, who, back):
            now = container.clock()
            activity = now - timedelta(hours=back)
            request = by_serial(self.voucher.serial, who, activity_at=activity)
            current = self.effective(now) if op is not Operation.RELEASE else self.status
            expected = TRANSITIONS[op].get(current)
            expiry = self.issued + VALIDITY
            if op in (Operation.RESERVE, Operation.CONFIRM, Operation.REDEEM):
                late = activity >= expiry or now >= expiry + GRACE
            elif op in (Operation.REISSUE, Operation.CANCEL):
                late = now >= expiry
            else:
                late = False
            payee = who or (self.reserver if op is Operation.CONFIRM else None)
            needs_payee = op in (Operation.REDEEM, Operation.CONFIRM)
            try:
                out = redemption.OPERATIONS[op](
                    container.uow(self.tid), container.code_secret, request, POLICY
                )
            except DomainError as refused:
                ok = expected is not None and not late and not (needs_payee and payee is None)
                assert not ok, f"{op} from {current} refused: {refused.code}"  # noqa: PT017
                return
            assert expected is not None and not late, f"{op} from {current} accepted"
            assert out.voucher.status is expected
            if needs_payee:
                assert payee is not None
                self.wallet[payee] += 500
                self.holder = payee
            if op is Operation.REVERSE:
                self.wallet[self.holder] -= 500
            if op is Operation.RESERVE:
                self.reserved_until = now + HOLD
                self.reserver = who
            if op is Operation.REISSUE:
                self.voucher = out.replacement
                self.status = S.AVAILABLE if current is S.AVAILABLE else S.RESERVED
                assert out.replacement.status is self.status
                return
            self.status = expected

        @invariant()
        def store_agrees(self):
            uow = container.uow(self.tid)
            stored = redemption.describe(uow, self.voucher.serial).voucher
            assert stored.status is self.status
            now = container.clock()
            for who, total in self.wallet.items():
                try:
                    wallet = wallets.get_wallet(container.uow(self.tid), who)
                except DomainError:
                    assert total == 0
                    continue
                got = sum(b.amount for b in wallet.buckets)  # expiry of buckets aside
                assert got == total, (who, got, total, now)

    Vouchers.TestCase.settings = settings(
        max_examples=int(os.environ.get("TESSERA_STATE_MACHINE_EXAMPLES", "40")),
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    Vouchers.TestCase().runTest()


@pytest.mark.slow
def test_random_operations_follow_the_table_and_the_wallet_follows_the_credits(container):
    run_machine(container)
