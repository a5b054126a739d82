"""The one-statement distribution (PostgreSQL): it gives a code with everything a
distribution writes, or writes nothing and leaves the call to the unit of work."""

import io

import pytest
import sqlalchemy as sa

from tessera.adapters.db import tables
from tessera.domain.lists import ListSpec
from tessera.services import lists, notifications, wallets
from tessera.services.distribution import distribute
from tessera.services.list_upload import upload_codes


@pytest.fixture
def uow(store, container, tenant):
    if store != "postgresql":
        pytest.skip("the one-statement distribution is PostgreSQL's")
    wallets.upsert_subscriber(container.uow(tenant[0]), "known")
    return lambda: container.uow(tenant[0])


def new_list(uow, codes, **kw):
    vl = lists.create_list(uow(), ListSpec(partner="P", name=kw.pop("name", "L"), **kw))
    upload_codes(uow(), vl.id, io.BytesIO(("code\n" + "\n".join(codes) + "\n").encode()))
    return vl


def count(container, table, **where):
    stmt = sa.select(sa.func.count()).select_from(table)
    for column, value in where.items():
        stmt = stmt.where(table.c[column] == value)
    with container.engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def test_one_statement_gives_a_known_subscriber_a_code_with_its_edr_count_and_holding(
    uow, container, clock
):
    vl = new_list(uow, ["Q1", "Q2"])
    got = uow().quick_distribution().give(vl.id, "known", "welcome", clock())
    assert got is not None and container.sealer.open(got.code_sealed, vl.id.bytes) == b"Q1"
    assert lists.get_list(uow(), vl.id).utilization.issued == 1  # counted in a slot
    assert count(container, tables.edrs, operation="list.distribute", subject_id=str(vl.id)) == 1
    assert count(container, tables.list_holdings, list_id=vl.id) == 1
    # the same subscriber is at the cap now: nothing more, and the unit of work answers
    assert uow().quick_distribution().give(vl.id, "known", None, clock()) is None
    again = distribute(uow(), [vl.id], "known")
    assert (again.code, again.already_given) == ("Q1", True)
    assert lists.get_list(uow(), vl.id).utilization.issued == 1


def test_the_statement_writes_nothing_when_the_transactional_path_must_decide(
    uow, container, clock, make_tenant
):
    vl = new_list(uow, ["A1", "A2", "A3", "A4"], low_stock_percent=50)
    paused = new_list(uow, ["P1"], name="paused")
    lists.update_list(uow(), paused.id, {"status": "paused"})
    other = make_tenant()
    theirs = lists.create_list(container.uow(other[0]), ListSpec(partner="P", name="T"))
    quick = uow().quick_distribution()
    assert quick.give(vl.id, "stranger", None, clock()) is None  # not a subscriber yet
    assert quick.give(paused.id, "known", None, clock()) is None
    assert quick.give(theirs.id, "known", None, clock()) is None
    assert quick.give(vl.id, "known", None, clock()) is not None  # 1 of 4
    wallets.upsert_subscriber(uow(), "second")
    assert quick.give(vl.id, "second", None, clock()) is None  # 2 of 4 would raise the alert
    assert count(container, tables.edrs, operation="list.distribute", subject_id=str(vl.id)) == 1
    assert lists.get_list(uow(), vl.id).utilization.issued == 1
    assert distribute(uow(), [vl.id], "second").code == "A2"  # the unit of work raises it
    assert lists.get_list(uow(), vl.id).low_stock_armed is False


def test_a_tenant_with_a_voucher_rewarded_webhook_distributes_in_a_transaction(
    uow, container, clock
):
    notifications.create_endpoint(
        uow(), container.webhook_targets, "http://127.0.0.1:9/x", ["voucher.rewarded"]
    )
    vl = new_list(uow, ["W1"])
    assert uow().quick_distribution().give(vl.id, "known", None, clock()) is None
    assert distribute(uow(), [vl.id], "known").code == "W1"
    page = notifications.list_notifications(uow(), None, 10)
    assert [n.event_type for n in page.items] == ["voucher.rewarded"]
