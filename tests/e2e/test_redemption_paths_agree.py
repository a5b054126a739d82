"""A redemption by code is answered by the two-round-trip path on PostgreSQL and by the
transactional path otherwise (SQLite, an Idempotency-Key, anything unusual). Both must leave
the same records, and the quick one must keep exactly-once under concurrent calls."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from helpers import auth
from tessera.adapters.db import tables as t
from tessera.domain.catalog import BucketTemplate
from tessera.domain.roles import Role
from tessera.services.tenants import create_key
from vouchering import issue, make_type


@pytest.fixture
def till(container, tenant, api):
    tid, admin = tenant
    _k, pos = create_key(container.uow(tid), "till", Role.POS)
    buckets = (BucketTemplate("data_mb", 500, 30), BucketTemplate("voice_min", 20, None))
    return tid, admin, pos, make_type(container, tid, buckets=buckets)


def _records(container, tid, subscriber):
    """What a redemption left, without ids and times: EDRs of the subscriber and of the
    voucher, and the subscriber's buckets."""
    with container.engine.connect() as conn:
        edrs = conn.execute(
            sa.select(t.edrs.c.operation, t.edrs.c.subject_type, t.edrs.c.amount_minor)
            .where(t.edrs.c.tenant_id == tid)
            .order_by(t.edrs.c.id)
        ).all()
        buckets = conn.execute(
            sa.select(t.buckets.c.balance_type, t.buckets.c.amount)
            .join(t.subscribers, t.subscribers.c.id == t.buckets.c.subscriber_id)
            .where(t.buckets.c.tenant_id == tid, t.subscribers.c.external_id == subscriber)
            .order_by(t.buckets.c.id)
        ).all()
    return [tuple(e) for e in edrs if e.subject_type != "caller"], [tuple(b) for b in buckets]


def test_the_quick_path_serves_postgresql(container, api, store):
    assert (container.quick_uses is not None) == (store == "postgresql")


def test_both_paths_leave_the_same_records(container, make_tenant, api):
    answers, records = [], []
    for idempotency in ({}, {"Idempotency-Key": "k-1"}):  # quick (on PostgreSQL), transactional
        tid, _admin = make_tenant()
        _k, pos = create_key(container.uow(tid), "till", Role.POS)
        type_id = make_type(
            container, tid, buckets=(BucketTemplate("data_mb", 500, 30), BucketTemplate("sms", 9))
        )
        _v, code = issue(container, tid, type_id)
        r = api.post(
            "/v1/vouchers/redeem",
            json={"code": code, "subscriber": "254700"},
            headers={**auth(pos), **idempotency},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        answers.append((body["status_before"], body["voucher"]["status"], len(body["credits"])))
        records.append(_records(container, tid, "254700"))
    assert answers[0] == answers[1] == ("available", "used", 2)
    assert records[0] == records[1]
    edrs, buckets = records[0]
    assert [e[0] for e in edrs if not e[0].startswith(("key.", "lifecycle.", "voucher_type."))] == [
        "voucher.issue",
        "revenue.added",
        "subscriber.create",
        "wallet.credit",
        "wallet.credit",
        "voucher.redeem",
        "revenue.recognized_by_use",
    ]
    assert buckets == [("data_mb", 500), ("sms", 9)]


def test_concurrent_redemptions_of_one_code_over_http_have_one_winner(container, api, till):
    tid, _admin, pos, type_id = till
    _v, code = issue(container, tid, type_id)

    def redeem(n):
        body = {"code": code, "subscriber": f"2547{n:04d}"}
        return api.post("/v1/vouchers/redeem", json=body, headers=auth(pos)).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(redeem, range(32)))
    assert sorted(statuses) == [200] + [409] * 31
    with container.engine.connect() as conn:
        credited = conn.execute(
            sa.select(sa.func.count()).select_from(t.buckets).where(t.buckets.c.tenant_id == tid)
        ).scalar_one()
    assert credited == 2


def test_first_redemptions_of_a_new_subscriber_create_them_once(container, api, till):
    tid, _admin, pos, type_id = till
    codes = [issue(container, tid, type_id)[1] for _ in range(12)]

    def redeem(code):
        body = {"code": code, "subscriber": "254799"}
        return api.post("/v1/vouchers/redeem", json=body, headers=auth(pos)).status_code

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(redeem, codes)) == [200] * 12
    with container.engine.connect() as conn:
        subscribers = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.subscribers)
            .where(t.subscribers.c.tenant_id == tid, t.subscribers.c.external_id == "254799")
        ).scalar_one()
        created = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.edrs)
            .where(t.edrs.c.tenant_id == tid, t.edrs.c.operation == "subscriber.create")
        ).scalar_one()
        buckets = conn.execute(
            sa.select(sa.func.sum(t.buckets.c.amount)).where(
                t.buckets.c.tenant_id == tid, t.buckets.c.balance_type == "data_mb"
            )
        ).scalar_one()
    assert (subscribers, created, buckets) == (1, 1, 12 * 500)


def _operations(container, tid, serial):
    with container.engine.connect() as conn:
        return conn.execute(
            sa.select(t.edrs.c.operation, t.edrs.c.details)
            .where(t.edrs.c.tenant_id == tid, t.edrs.c.subject_id == str(serial))
            .order_by(t.edrs.c.id)
        ).all()


def test_a_lapsed_hold_is_released_on_the_record_then_redeemed(container, api, till, clock):
    tid, _admin, pos, type_id = till
    voucher, code = issue(container, tid, type_id)
    held = api.post("/v1/vouchers/reserve", json={"code": code}, headers=auth(pos))
    assert held.status_code == 200, held.text
    clock.advance(seconds=601)  # the type's lifecycle holds for 600 s
    r = api.post(
        "/v1/vouchers/redeem", json={"code": code, "subscriber": "254711"}, headers=auth(pos)
    )
    assert r.status_code == 200, r.text
    assert r.json()["status_before"] == "available"
    rows = _operations(container, tid, voucher.serial)
    assert [row.operation for row in rows][-3:] == [
        "voucher.release", "voucher.redeem", "revenue.recognized_by_use",
    ]  # fmt: skip
    assert rows[-3].details["cause"] == "hold_lapsed"


def test_a_live_hold_is_confirmed_by_code(container, api, till):
    tid, _admin, pos, type_id = till
    voucher, code = issue(container, tid, type_id)
    body = {"code": code, "subscriber": "254722"}
    assert api.post("/v1/vouchers/reserve", json=body, headers=auth(pos)).status_code == 200
    redeemed = api.post("/v1/vouchers/redeem", json=body, headers=auth(pos))
    assert redeemed.status_code == 409  # a live hold is not available
    r = api.post("/v1/vouchers/confirm", json=body, headers=auth(pos))
    assert r.status_code == 200, r.text
    assert (r.json()["status_before"], r.json()["voucher"]["status"]) == ("reserved", "used")
    ops = [row.operation for row in _operations(container, tid, voucher.serial)]
    assert ops[-2:] == ["voucher.confirm", "revenue.recognized_by_use"]
