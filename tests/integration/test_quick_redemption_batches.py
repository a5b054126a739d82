"""On PostgreSQL, redemptions by code that arrive together share one read and one write
statement (``quick_use.py``). Each must still be its own compare-and-set, scoped to its own
tenant, and a statement refused as a whole must write none of its redemptions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.quick_use import QuickUses
from tessera.domain.statuses import Operation
from tessera.services import brands, redemption, shares, wallets
from tessera.services.redemption import Decline, Outcome, use_quickly
from vouchering import POLICY, by_code, make_type, prepare


@pytest.fixture(params=["postgresql"])  # the only store with this path
def store(request: pytest.FixtureRequest) -> str:
    request.applymarker(pytest.mark.postgres)
    return str(request.param)


def _redeem_together(
    container: Any,
    uses: list[tuple[Any, str, str]],
    spy: Callable[[QuickUses], None],
    receiving: frozenset[Any] = frozenset(),
) -> list[Outcome | Decline]:
    """``uses``: (tenant id, code, subscriber), all sent at once on one event loop;
    ``receiving``: the tenants that receive shared types (as their keys would say)."""
    for tenant, code, _subscriber in uses:  # the quick path knows a format once it was seen
        redemption.validate(container.uow(tenant), container.code_secret, by_code(code), POLICY)

    async def run() -> list[Outcome | Decline]:
        quick = QuickUses(container.settings.database_url)
        await quick.open()
        spy(quick)
        try:
            return await asyncio.gather(
                *(
                    use_quickly(
                        quick,
                        container.uow(tenant),
                        container.code_secret,
                        by_code(code, subscriber),
                        Operation.REDEEM,
                        receives_shares=tenant in receiving,
                    )
                    for tenant, code, subscriber in uses
                )
            )
        finally:
            await quick.close()

    return asyncio.run(run())


def _statement_sizes(sizes: list[int]) -> Callable[[QuickUses], None]:
    def spy(quick: QuickUses) -> None:
        run: Callable[[list[Any]], Awaitable[list[Any]]] = quick.writes.run

        async def counted(items: list[Any]) -> list[Any]:
            sizes.append(len(items))
            return await run(items)

        quick.writes.run = counted

    return spy


def test_redemptions_sent_together_each_move_their_own_voucher(container, make_tenant):
    tenants = [make_tenant()[0] for _ in range(2)]
    uses = []
    for tenant in tenants:
        codes = prepare(container, tenant, make_type(container, tenant), 20)
        uses += [(tenant, code, f"2547{n:04d}") for n, code in enumerate(codes)]
    sizes: list[int] = []
    outcomes = _redeem_together(container, uses, _statement_sizes(sizes))
    assert all(isinstance(o, Outcome) and o.voucher.status.value == "used" for o in outcomes)
    assert sum(sizes) == 40 and max(sizes) > 1  # they did share statements
    for tenant in tenants:
        for n in range(20):
            wallet = wallets.get_wallet(container.uow(tenant), f"2547{n:04d}")
            assert wallet.totals(container.clock()) == {"data_mb": 500}


def test_a_new_subscriber_twice_in_one_statement_is_created_once(container, tenant):
    tid, _key = tenant
    codes = prepare(container, tid, make_type(container, tid), 2)
    sizes: list[int] = []
    outcomes = _redeem_together(
        container, [(tid, code, "254777") for code in codes], _statement_sizes(sizes)
    )
    assert sizes == [2]
    # The second creation conflicts with the first, so its voucher stays put and the
    # transactional path (which finds the subscriber) redeems it.
    assert [isinstance(o, Outcome) for o in outcomes] == [True, False]
    assert outcomes[1] is Decline.LOST_RACE
    with container.engine.connect() as conn:
        subscribers = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.subscribers)
            .where(t.subscribers.c.tenant_id == tid)
        ).scalar_one()
        statuses = (
            conn.execute(sa.select(t.vouchers.c.status).where(t.vouchers.c.tenant_id == tid))
            .scalars()
            .all()
        )
    assert subscribers == 1 and sorted(statuses) == ["available", "used"]


def test_one_code_twice_in_one_statement_moves_once(container, tenant):
    tid, _key = tenant
    code = prepare(container, tid, make_type(container, tid), 1)[0]
    sizes: list[int] = []
    outcomes = _redeem_together(
        container, [(tid, code, "254701"), (tid, code, "254702")], _statement_sizes(sizes)
    )
    assert sizes == [2]
    assert (
        sum(isinstance(o, Outcome) for o in outcomes) == 1
    )  # the other goes the transactional way
    with container.engine.connect() as conn:
        credited = conn.execute(
            sa.select(sa.func.count()).select_from(t.buckets).where(t.buckets.c.tenant_id == tid)
        ).scalar_one()
    assert credited == 1


def test_a_refused_statement_writes_none_of_its_redemptions(container, tenant):
    tid, _key = tenant
    codes = prepare(container, tid, make_type(container, tid), 3)

    def refuse_last(quick: QuickUses) -> None:
        run = quick.writes.run

        async def broken(items: list[Any]) -> list[Any]:
            # The last redemption's bucket id collides with the first's: the insert fails.
            last = items[-1]
            first_id = items[0].buckets[0].bucket_id
            items[-1] = type(last)(
                **{
                    **_fields(last),
                    "buckets": [type(last.buckets[0])(first_id, "data_mb", 1, None)],
                }
            )
            return await run(items)

        quick.writes.run = broken

    outcomes = _redeem_together(
        container, [(tid, code, f"25470{n}") for n, code in enumerate(codes)], refuse_last
    )
    assert outcomes == [Decline.WRITE_REFUSED] * 3  # all three left to the transactional path
    with container.engine.connect() as conn:
        statuses = (
            conn.execute(sa.select(t.vouchers.c.status).where(t.vouchers.c.tenant_id == tid))
            .scalars()
            .all()
        )
        buckets = conn.execute(
            sa.select(sa.func.count()).select_from(t.buckets).where(t.buckets.c.tenant_id == tid)
        ).scalar_one()
    assert sorted(statuses) == ["available"] * 3 and buckets == 0


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def test_a_connection_the_server_ended_is_replaced_before_the_next_statement(container, tenant):
    tid, _key = tenant
    codes = prepare(container, tid, make_type(container, tid), 2)
    redemption.validate(container.uow(tid), container.code_secret, by_code(codes[0]), POLICY)

    async def run() -> list[Outcome | Decline]:
        quick = QuickUses(container.settings.database_url)
        await quick.open()
        try:

            def redeem(code: str) -> Awaitable[Outcome | Decline]:
                request = by_code(code, "254701")
                uow = container.uow(tid)
                return use_quickly(quick, uow, container.code_secret, request, Operation.REDEEM)

            first = await redeem(codes[0])
            ended = [quick.readers.conn.get_server_pid(), quick.writers.conn.get_server_pid()]
            with container.engine.begin() as conn:
                for pid in ended:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await asyncio.sleep(0.2)  # the ends reach the client
            return [first, await redeem(codes[1])]
        finally:
            await quick.close()

    outcomes = asyncio.run(run())
    assert all(isinstance(o, Outcome) and o.voucher.status.value == "used" for o in outcomes)


def test_another_tenants_code_in_a_shared_statement_is_not_found(container, make_tenant):
    """Two tenants' redemptions in one read and one write: a code of tenant A sent with
    tenant B's key finds nothing, and A's voucher stays available."""
    a, b = make_tenant()[0], make_tenant()[0]
    a_codes = prepare(container, a, make_type(container, a), 2)
    (b_code,) = prepare(container, b, make_type(container, b), 1)
    sizes: list[int] = []
    uses = [(a, a_codes[0], "254711"), (b, a_codes[1], "254712"), (b, b_code, "254713")]
    outcomes = _redeem_together(container, uses, _statement_sizes(sizes))
    assert isinstance(outcomes[0], Outcome) and isinstance(outcomes[2], Outcome)
    assert outcomes[1] is Decline.NOT_FOUND
    assert sizes == [2]  # A's and B's redemptions shared the write
    with container.engine.connect() as conn:
        by_tenant = conn.execute(
            sa.select(t.vouchers.c.tenant_id, t.vouchers.c.status)
            .order_by(t.vouchers.c.serial)
            .where(t.vouchers.c.tenant_id.in_([a, b]))
        ).all()
    assert sorted((str(tid), status) for tid, status in by_tenant) == sorted(
        [(str(a), "used"), (str(a), "available"), (str(b), "used")]
    )
    assert wallets.get_wallet(container.uow(a), "254711").totals(container.clock())
    assert wallets.get_wallet(container.uow(b), "254713").totals(container.clock())


def _marketplace(container: Any, make_tenant: Any, codes: int) -> tuple[Any, Any, list[str]]:
    """Brands A and B of one host; ``codes`` codes of A's type, which A shares with B."""
    host = make_tenant()[0]
    a, _k, _p = brands.create_brand(container.uow(host), f"a-{uuid.uuid4().hex[:8]}")
    b, _k, _p = brands.create_brand(container.uow(host), f"b-{uuid.uuid4().hex[:8]}")
    type_id = make_type(container, a.id)
    shares.share_type(container.uow(a.id), type_id, b.id)
    return a.id, b.id, prepare(container, a.id, type_id, codes)


def test_a_marketplace_code_sent_by_clients_of_two_brands_in_one_statement_moves_once(
    container, make_tenant
):
    a, b, (code,) = _marketplace(container, make_tenant, 1)
    uses = [(a if n % 2 else b, code, f"25479{n:02d}") for n in range(16)]
    sizes: list[int] = []
    outcomes = _redeem_together(container, uses, _statement_sizes(sizes), frozenset({b}))
    assert sum(isinstance(o, Outcome) for o in outcomes) == 1, outcomes
    assert max(sizes) > 1  # the two brands' uses shared a statement
    with container.engine.connect() as conn:
        credited = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.buckets)
            .where(t.buckets.c.tenant_id.in_([a, b]))
        ).scalar_one()
    assert credited == 1


def test_marketplace_uses_in_one_statement_write_both_brands_records(container, make_tenant):
    a, b, codes = _marketplace(container, make_tenant, 10)
    uses = [(b, code, f"25478{n:02d}") for n, code in enumerate(codes)]
    outcomes = _redeem_together(container, uses, _statement_sizes([]), frozenset({b}))
    assert all(isinstance(o, Outcome) for o in outcomes), outcomes
    with container.engine.connect() as conn:
        records = conn.execute(
            sa.select(t.edrs.c.tenant_id, t.edrs.c.operation, sa.func.count())
            .where(t.edrs.c.tenant_id.in_([a, b]), t.edrs.c.operation.like("%.%"))
            .group_by(t.edrs.c.tenant_id, t.edrs.c.operation)
        ).all()
        held = (
            conn.execute(sa.select(t.vouchers.c.subscriber_id).where(t.vouchers.c.tenant_id == a))
            .scalars()
            .all()
        )
    counts = {(tid, op): n for tid, op, n in records}
    assert counts[(a, "voucher.redeem")] == counts[(a, "revenue.recognized_by_use")] == 10
    assert counts[(b, "voucher.redeem")] == counts[(b, "wallet.credit")] == 10
    assert (b, "revenue.recognized_by_use") not in counts
    assert held == [None] * 10  # B's subscribers stay off A's rows
