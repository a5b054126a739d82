"""Distribution: one code to one subscriber, from the first usable list, never twice."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tessera.bootstrap import build
from tessera.domain.errors import Conflict, NotFound
from tessera.domain.lists import ListSpec
from tessera.domain.notifications import NotificationStatus
from tessera.services import lists, notifications, wallets
from tessera.services.distribution import distribute
from tessera.services.list_upload import upload_codes


def new_list(uow, name, codes, **kw):
    """A list with these codes; one subscriber may take them all unless ``kw`` caps it."""
    kw.setdefault("codes_per_subscriber", 1000)
    vl = lists.create_list(uow(), ListSpec(partner="Partner", name=name, **kw))
    text = "code,expiry\n" + "".join(f"{c}\n" for c in codes)
    upload_codes(uow(), vl.id, io.BytesIO(text.encode()))
    return vl


@pytest.fixture
def uow(container, tenant):
    wallets.upsert_subscriber(container.uow(tenant[0]), "s1")
    return lambda: container.uow(tenant[0])


def test_codes_come_from_the_first_list_that_has_one_in_upload_order(uow):
    a = new_list(uow, "A", ["A1", "A2"])
    b = new_list(uow, "B", ["B1"])
    got = [distribute(uow(), [a.id, b.id], "s1").code for _ in range(3)]
    assert got == ["A1", "A2", "B1"]
    with pytest.raises(Conflict) as caught:
        distribute(uow(), [a.id, b.id], "s1")
    assert caught.value.code == "lists_exhausted"
    figures = lists.get_list(uow(), a.id).utilization
    assert (figures.uploaded, figures.issued, figures.remaining) == (2, 2, 0)


def test_paused_archived_and_expired_lists_are_passed_over(uow, clock):
    paused = new_list(uow, "paused", ["P1"])
    archived = new_list(uow, "archived", ["R1"])
    ending = new_list(uow, "ending", ["E1"], ends_at=clock() + timedelta(days=1))
    open_ = new_list(uow, "open", ["O1", "O2"])
    lists.update_list(uow(), paused.id, {"status": "paused"})
    lists.update_list(uow(), archived.id, {"status": "archived"})
    clock.advance(days=2)
    assert lists.get_list(uow(), ending.id).status(clock()) == "expired"
    order = [paused.id, archived.id, ending.id, open_.id]
    assert distribute(uow(), order, "s1").code == "O1"
    lists.update_list(uow(), paused.id, {"status": "active"})
    assert distribute(uow(), order, "s1").code == "P1"
    with pytest.raises(Conflict):
        lists.update_list(uow(), archived.id, {"status": "active"})


def test_expired_codes_are_skipped(uow, clock):
    vl = lists.create_list(uow(), ListSpec(partner="P", name="L", codes_per_subscriber=2))
    text = "code,expiry\nOLD,2026-11-24\nNEW,2027-06-01\n"
    upload_codes(uow(), vl.id, io.BytesIO(text.encode()))
    clock.advance(days=2)
    assert distribute(uow(), [vl.id], "s1").code == "NEW"
    with pytest.raises(Conflict):
        distribute(uow(), [vl.id], "s1")


def test_another_tenants_list_is_not_found(container, uow, make_tenant):
    other = make_tenant()
    foreign = new_list(lambda: container.uow(other[0]), "theirs", ["X"])
    with pytest.raises(NotFound):
        distribute(uow(), [foreign.id], "s1")


def test_distribution_writes_an_edr_without_the_code(uow):
    from tessera.adapters.db.repositories.edrs import EdrFilter
    from tessera.services.edrs import list_edrs

    vl = new_list(uow, "A", ["SECRET-A1"])
    distribute(uow(), [vl.id], "s1", campaign="welcome")
    (edr,) = list_edrs(uow(), EdrFilter(operation="list.distribute"), None, 10).items
    assert edr.subject_id == str(vl.id)
    assert edr.details["subscriber"] == "s1"
    assert edr.details["campaign"] == "welcome"
    assert "SECRET-A1" not in str(edr.details)


def low_stock_alerts(uow):
    page = notifications.list_notifications(uow(), None, 100)
    return [n for n in page.items if n.event_type == "voucher_list.low_stock"]


def test_low_stock_is_raised_once_and_again_only_after_a_top_up(uow, container):
    targets = container.webhook_targets
    notifications.create_endpoint(
        uow(), targets, "http://127.0.0.1:9/x", ["voucher_list.low_stock"]
    )
    vl = new_list(uow, "L", ["C1", "C2", "C3", "C4"], low_stock_percent=50)
    distribute(uow(), [vl.id], "s1")
    assert low_stock_alerts(uow) == []
    distribute(uow(), [vl.id], "s1")  # 2 of 4: the threshold
    distribute(uow(), [vl.id], "s1")
    (alert,) = low_stock_alerts(uow)
    assert alert.payload["data"]["issued"] == 2
    assert alert.payload["data"]["remaining"] == 2
    assert lists.get_list(uow(), vl.id).low_stock_armed is False
    upload_codes(uow(), vl.id, io.BytesIO(b"code\nC5\nC6\nC7\nC8\n"))  # 3 of 8: under again
    assert lists.get_list(uow(), vl.id).low_stock_armed is True
    distribute(uow(), [vl.id], "s1")  # 4 of 8
    alerts = low_stock_alerts(uow)
    assert [a.payload["data"]["issued"] for a in alerts] == [2, 4]
    assert {a.status for a in alerts} == {NotificationStatus.PENDING}


def test_partner_redemptions_are_counted_once_and_unknown_codes_refused(uow):
    vl = new_list(uow, "L", ["C1", "C2", "C3"])
    given = distribute(uow(), [vl.id], "s1").code
    at = vl.created_at
    report = lists.report_redemptions(
        uow(), vl.id, enumerate([given, "C3", "NOPE", given], start=1), at
    )
    assert (report.redeemed, report.already_redeemed, report.refused) == (1, 0, 3)
    assert [(p.line, p.kind) for p in report.problems] == [
        (2, "not_issued"),
        (3, "unknown_code"),
        (4, "duplicate"),
    ]
    again = lists.report_redemptions(uow(), vl.id, [(1, given)], at)
    assert (again.redeemed, again.already_redeemed) == (0, 1)
    figures = lists.get_list(uow(), vl.id).utilization
    assert (figures.uploaded, figures.issued, figures.redeemed) == (3, 1, 1)


def concurrent_distributions(database_url, settings, tenant_id, list_ids, total, clients):
    """``total`` distributions from ``clients`` threads, each with its own connection."""
    container = build(
        settings.model_copy(update={"database_url": database_url, "db_pool_size": clients})
    )
    counter = iter(range(total))
    lock = threading.Lock()
    given, refused = [], []

    def client(_):
        while True:
            with lock:
                n = next(counter, None)
                if n is None:
                    return
            try:
                d = distribute(container.uow(tenant_id), list_ids, f"s{n}")
                given.append((d.list_id, d.code))
            except Conflict:
                refused.append(1)

    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            list(pool.map(client, range(clients)))
    finally:
        container.close()
    return given, refused


@pytest.mark.slow
def test_concurrent_distributions_never_give_a_code_twice_nor_skip_one(
    store, database_url, container, tenant, uow
):
    total = 2_000 if store == "postgresql" else 600
    first = new_list(uow, "first", [f"F{i}" for i in range(total * 6 // 10)])
    second = new_list(uow, "second", [f"S{i}" for i in range(total * 4 // 10)])
    given, refused = concurrent_distributions(
        database_url, container.settings, tenant[0], [first.id, second.id], total + 50, 32
    )
    codes = [code for _, code in given]
    assert len(codes) == total  # every available code was given: none skipped
    assert len(set(codes)) == total  # and none twice
    assert len(refused) == 50  # only once both lists were empty
    assert sum(1 for list_id, _ in given if list_id == first.id) == total * 6 // 10
    for vl in (first, second):
        figures = lists.get_list(uow(), vl.id).utilization
        assert figures.remaining == 0
        assert figures.issued == figures.uploaded


@pytest.mark.parametrize("known", [True, False])
@pytest.mark.parametrize("cap", [1, 3])
def test_concurrent_distributions_to_one_subscriber_stop_at_the_lists_cap(
    store, database_url, container, tenant, uow, cap, known
):
    """32 threads at once for one subscriber: the cap is settled by the database, so exactly
    ``cap`` codes are taken and every other answer is one of them, already given. A known
    subscriber's distributions go by the one statement on PostgreSQL; a new one's first
    through the unit of work."""
    if known:
        wallets.upsert_subscriber(uow(), "racer")
    vl = new_list(uow, "capped", [f"C{i}" for i in range(100)], codes_per_subscriber=cap)
    container_ = build(
        container.settings.model_copy(update={"database_url": database_url, "db_pool_size": 32})
    )
    start = threading.Barrier(32)

    def client(_):
        start.wait()
        return [distribute(container_.uow(tenant[0]), [vl.id], "racer") for _ in range(3)]

    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            answers = [d for batch in pool.map(client, range(32)) for d in batch]
    finally:
        container_.close()
    taken = {d.code for d in answers if not d.already_given}
    assert len(taken) == sum(not d.already_given for d in answers) == cap
    assert {d.code for d in answers} == taken
    figures = lists.get_list(uow(), vl.id).utilization
    assert (figures.issued, figures.remaining) == (cap, 100 - cap)
