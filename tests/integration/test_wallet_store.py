"""Subscribers, the credit/debit primitive and EDRs, on each store."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tessera.adapters.db import tables
from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.domain.errors import Conflict
from tessera.domain.wallet import ServiceState
from tessera.services import wallets
from tessera.services.edrs import list_edrs


def test_upsert_creates_then_updates_only_what_is_sent(container, tenant):
    uow = lambda: container.uow(tenant[0])
    first, created = wallets.upsert_subscriber(uow(), "254700000001", {"tier": "gold"})
    assert created and first.service_state is ServiceState.ACTIVE
    second, created = wallets.upsert_subscriber(uow(), "254700000001", None, ServiceState.SUSPENDED)
    assert not created and second.id == first.id
    assert second.attributes == {"tier": "gold"} and second.service_state is ServiceState.SUSPENDED


def test_debit_never_takes_a_balance_below_zero(container, tenant):
    uow = lambda: container.uow(tenant[0])
    wallets.upsert_subscriber(uow(), "s1")
    wallets.adjust_wallet(uow(), "s1", "credit", "airtime", 100)
    with pytest.raises(Conflict) as caught:
        wallets.adjust_wallet(uow(), "s1", "debit", "airtime", 101)
    assert caught.value.code == "insufficient_balance"
    assert wallets.get_wallet(uow(), "s1").totals(container.clock()) == {"airtime": 100}


def test_debit_spends_the_soonest_expiring_bucket_first_and_skips_expired_ones(
    container, tenant, clock
):
    uow = lambda: container.uow(tenant[0])
    wallets.upsert_subscriber(uow(), "s1")
    now = clock()
    wallets.adjust_wallet(uow(), "s1", "credit", "data_mb", 50, now - timedelta(seconds=1))
    wallets.adjust_wallet(uow(), "s1", "credit", "data_mb", 100, None)
    wallets.adjust_wallet(uow(), "s1", "credit", "data_mb", 30, now + timedelta(days=1))
    wallets.adjust_wallet(uow(), "s1", "debit", "data_mb", 40)
    amounts = {(b.amount, b.expires_at is None) for b in wallets.get_wallet(uow(), "s1").buckets}
    assert amounts == {(50, False), (90, True)}
    with pytest.raises(Conflict):
        wallets.adjust_wallet(uow(), "s1", "debit", "data_mb", 91)


def test_concurrent_debits_never_overspend(container, tenant):
    uow = lambda: container.uow(tenant[0])
    wallets.upsert_subscriber(uow(), "s1")
    wallets.adjust_wallet(uow(), "s1", "credit", "airtime", 10)

    def spend(_: int) -> bool:
        try:
            wallets.adjust_wallet(uow(), "s1", "debit", "airtime", 1)
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(spend, range(25)))
    assert sum(results) == 10
    assert wallets.get_wallet(uow(), "s1").totals(container.clock()) == {}


def test_every_change_writes_an_edr_in_its_transaction(container, tenant):
    uow = lambda: container.uow(tenant[0])
    wallets.upsert_subscriber(uow(), "s1")
    wallets.adjust_wallet(uow(), "s1", "credit", "airtime", 10)
    with pytest.raises(Conflict):
        wallets.adjust_wallet(uow(), "s1", "debit", "airtime", 11)
    ops = [e.operation for e in list_edrs(uow(), EdrFilter(subject_id="s1"), None, 50).items]
    assert ops == ["subscriber.create", "wallet.credit"]  # the refused debit left nothing


def test_edrs_are_append_only_in_the_store_itself(container, tenant):
    wallets.upsert_subscriber(container.uow(tenant[0]), "s1")
    for statement in (sa.update(tables.edrs).values(operation="x"), sa.delete(tables.edrs)):
        with pytest.raises(sa.exc.DBAPIError), container.engine.begin() as conn:
            conn.execute(statement)


def test_edr_filters_by_operation_subject_and_time(container, tenant, clock):
    uow = lambda: container.uow(tenant[0])
    start = clock()
    wallets.upsert_subscriber(uow(), "s1")
    clock.advance(hours=1)
    wallets.upsert_subscriber(uow(), "s2")
    wallets.adjust_wallet(uow(), "s2", "credit", "sms", 5)
    by_op = list_edrs(uow(), EdrFilter(operation="wallet.credit"), None, 10).items
    assert [e.subject_id for e in by_op] == ["s2"]
    early = list_edrs(
        uow(), EdrFilter(subject_type="subscriber", until=start + timedelta(minutes=1)), None, 10
    )
    assert [e.subject_id for e in early.items] == ["s1"]
    late = list_edrs(uow(), EdrFilter(since=start + timedelta(minutes=1)), None, 10).items
    assert {e.subject_id for e in late} == {"s2"}
