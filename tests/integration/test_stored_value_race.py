"""A stored value spent by many tills at once never gives more than it holds: each use is a
compare-and-set on the spent amount in the database, and a till that lost the race decides
again on what is left under the row's lock (services/redemption/operations.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tessera.bootstrap import build
from tessera.domain.errors import Conflict
from tessera.domain.money import Money, PurchaseValue, ValueKind
from tessera.services import redemption
from tessera.services.tenants import create_tenant
from vouchering import POLICY, by_code, issue, make_type

VALUE, PURCHASE = 1_000, 150  # six whole purchases, a seventh gets the last 100


@pytest.fixture
def racing(container):
    """A container whose pool gives every client its own connection."""
    wide = build(container.settings.model_copy(update={"db_pool_size": 64}), clock=container.clock)
    yield wide
    wide.close()


# On PostgreSQL alone: SQLite's writers queue on the database lock, so no two ever race.
@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_64_clients_spending_one_stored_value_never_take_more_than_it_holds(racing):
    assert racing.engine.dialect.name == "postgresql"
    clients = 64
    tenant, _key = create_tenant(racing.directory(), f"spend-{threading.get_ident()}")
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=VALUE)
    voucher, code = issue(racing, tenant.id, make_type(racing, tenant.id, purchase_value=value))
    barrier = threading.Barrier(clients)

    def spend(client: int) -> int:
        barrier.wait()
        request = by_code(code, f"c{client}", purchase=Money(PURCHASE, "EUR"))
        try:
            outcome = redemption.redeem(racing.uow(tenant.id), racing.code_secret, request, POLICY)
        except Conflict:  # used up (illegal_transition from used, or value_spent)
            return 0
        assert outcome.take is not None
        return outcome.take.taken_minor

    with ThreadPoolExecutor(clients) as pool:
        taken = list(pool.map(spend, range(clients)))
    assert sum(taken) == VALUE, taken
    assert sorted(t for t in taken if t) == [100] + [PURCHASE] * 6
    uow = racing.uow(tenant.id)
    with uow:
        row = uow.vouchers.get(voucher.id)
        records = uow.edrs.of_subject("voucher", str(voucher.serial), ["voucher.redeem"])
    assert row is not None and row.value_spent_minor == VALUE and row.status.value == "used"
    assert sum(r.details["taken_minor"] for r in records) == VALUE and len(records) == 7
