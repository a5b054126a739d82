"""The worker's purge: each kind of row that grows without bound is deleted once past its
retention, and kept until then; EDRs are never deleted. Run through the worker's purge job,
on both stores, with the clock moved instead of waiting."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from helpers import auth
from tessera.adapters.db import tables as t
from tessera.domain.notifications import NotificationStatus as N
from tessera.entrypoints.worker import Worker, WorkerMetrics, jobs_for
from tessera.services import redemption
from vouchering import POLICY, by_code, issue, make_type


@pytest.fixture
def tid(tenant):
    return tenant[0]


def purge(container) -> WorkerMetrics:
    """One run of the worker's purge job; its metrics."""
    metrics = WorkerMetrics(CollectorRegistry())
    jobs = jobs_for(container, metrics)
    worker = Worker(container, [j for j in jobs if j.name == "purge"], metrics)
    try:
        assert worker.run_once() == {"purge": "ok"}
    finally:
        for job in jobs:
            if job.close:
                job.close()
    return metrics


def rows(container, table, tid, *where):
    with container.engine.connect() as conn:
        stmt = sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tid, *where)
        return conn.execute(stmt).scalar_one()


def purged(metrics, table):
    return metrics.purged.labels(table)._value.get()


def event(event_id, occurred_at):
    return {
        "id": event_id,
        "subscriber": "254700000001",
        "type": "usage.data",
        "occurred_at": occurred_at.isoformat(),
        "attributes": {"mb": 1},
    }


def test_purge_deletes_events_past_retention_and_keeps_newer_ones(api, container, tenant, clock):
    tid, key = tenant
    days = container.settings.event_retention_days
    old_time = clock.now - timedelta(hours=1)
    body = {"events": [event("old", old_time), event("late", old_time - timedelta(days=days))]}
    assert api.post("/v1/events", json=body, headers=auth(key)).status_code == 200
    clock.advance(days=days, hours=-2)
    # "late" happened long ago but arrived only now: kept until its arrival is as old
    body = {"events": [event("new", clock.now), event("late2", clock.now - timedelta(days=400))]}
    assert api.post("/v1/events", json=body, headers=auth(key)).status_code == 200
    purge(container)
    assert rows(container, t.events, tid) == 4  # nothing is old enough yet
    clock.advance(hours=3)
    metrics = purge(container)
    with container.engine.connect() as conn:
        left = conn.execute(sa.select(t.events.c.event_id).where(t.events.c.tenant_id == tid))
        assert sorted(left.scalars()) == ["late2", "new"]
    assert purged(metrics, "events") >= 2
    # An id purged is no longer a duplicate (the README says so); one kept still is.
    again = api.post("/v1/events", json={"events": [event("old", old_time), event("new", clock.now)]},
                     headers=auth(key)).json()["results"]  # fmt: skip
    assert [r["duplicate"] for r in again] == [False, True]


def test_purge_deletes_aggregate_windows_past_retention_and_keeps_newer_ones(container, tid, clock):
    days = container.settings.aggregate_retention_days
    edge = (clock.now - timedelta(days=days)).date()
    buckets = {
        (edge - timedelta(days=1)).isoformat(): False,  # a day window before the edge
        edge.isoformat(): True,
        (edge.replace(day=1) - timedelta(days=1)).isoformat()[:7]: False,  # the month before
        edge.isoformat()[:7]: True,  # the edge's own month is not over
        clock.now.date().isoformat(): True,
        clock.now.date().isoformat()[:7]: True,
    }
    with container.engine.begin() as conn:
        conn.execute(
            sa.insert(t.aggregate_values),
            [
                {"tenant_id": tid, "subscriber": "s1", "name": "mb", "bucket": b, "value": 1.0}
                for b in buckets
            ],
        )
    purge(container)
    with container.engine.connect() as conn:
        c = t.aggregate_values.c
        left = set(conn.execute(sa.select(c.bucket).where(c.tenant_id == tid)).scalars())
    assert left == {b for b, kept in buckets.items() if kept}


def test_purge_deletes_cap_windows_past_retention_and_keeps_campaign_long_counts(
    api, container, tenant, clock
):
    tid, key = tenant
    body = {
        "name": "Data lover", "trigger_types": ["usage.data"], "condition": "true",
        "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb", "amount": 5}],
        "status": "active", "currency": "EUR", "cost_per_reward_minor": 1,
    }  # fmt: skip
    answer = api.post("/v1/campaigns", json=body, headers=auth(key))
    assert answer.status_code == 201, answer.json()
    campaign_id = uuid.UUID(answer.json()["id"])
    edge = (clock.now - timedelta(days=container.settings.aggregate_retention_days)).date()
    periods = {
        (edge - timedelta(days=1)).isoformat(): False,
        edge.isoformat(): True,
        (edge.replace(day=1) - timedelta(days=1)).isoformat()[:7]: False,
        edge.isoformat()[:7]: True,
        clock.now.date().isoformat(): True,
        "all": True,
    }
    with container.engine.begin() as conn:
        conn.execute(
            sa.insert(t.campaign_subscriber_counts),
            [
                {"campaign_id": campaign_id, "subscriber": "s1", "period": p, "tenant_id": tid,
                 "count": 1}
                for p in periods
            ],
        )  # fmt: skip
    metrics = purge(container)
    with container.engine.connect() as conn:
        c = t.campaign_subscriber_counts.c
        left = set(conn.execute(sa.select(c.period).where(c.tenant_id == tid)).scalars())
    assert left == {p for p, kept in periods.items() if kept}
    assert purged(metrics, "campaign_subscriber_counts") >= 2


@pytest.fixture
def endpoint_id(api, tenant):
    answer = api.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": ["voucher.redeemed"]},
        headers=auth(tenant[1]),
    )
    assert answer.status_code == 201, answer.json()
    return uuid.UUID(answer.json()["id"])


def test_purge_deletes_delivered_notifications_past_retention_with_their_attempts(
    container, tid, clock, endpoint_id
):
    retention = timedelta(days=container.settings.notification_retention_days)
    old, recent = clock.now - retention - timedelta(minutes=1), clock.now - retention / 2

    kinds = {
        "old delivered": (N.DELIVERED, old, False),
        "recent delivered": (N.DELIVERED, recent, True),
        "old dead": (N.DEAD, None, True),  # waits for an operator's retry
        "old pending": (N.PENDING, None, True),
    }
    ids = {}
    with container.engine.begin() as conn:
        for name, (status, delivered_at, _kept) in kinds.items():
            ids[name] = conn.execute(
                sa.insert(t.notifications)
                .values(
                    tenant_id=tid, endpoint_id=endpoint_id, event_type="voucher.redeemed",
                    payload_sealed=b"sealed", status=status.value, attempts=2,
                    next_attempt_at=clock.now + timedelta(days=1), created_at=old,
                    delivered_at=delivered_at,
                )
                .returning(t.notifications.c.id)
            ).scalar_one()  # fmt: skip
            for _ in range(2):
                conn.execute(
                    sa.insert(t.notification_attempts).values(
                        tenant_id=tid, notification_id=ids[name], attempted_at=old,
                        status_code=500, error=None, duration_ms=3,
                    )
                )  # fmt: skip
    purge(container)
    with container.engine.connect() as conn:
        left = set(
            conn.execute(
                sa.select(t.notifications.c.id).where(t.notifications.c.tenant_id == tid)
            ).scalars()
        )
    assert left == {ids[name] for name, (_s, _d, kept) in kinds.items() if kept}
    attempts = t.notification_attempts.c
    assert rows(container, t.notification_attempts, tid) == 6
    assert rows(container, t.notification_attempts, tid, attempts.notification_id == ids["old delivered"]) == 0  # fmt: skip


def test_purge_deletes_idempotency_keys_past_their_ttl(container, tid, clock):
    uow = container.uow(tid)
    with uow:
        uow.idempotency.claim("old-key", "f" * 64, clock.now)
        uow.commit()
    clock.advance(hours=container.settings.idempotency_retention_hours, minutes=-1)
    with uow:
        uow.idempotency.claim("new-key", "f" * 64, clock.now)
        uow.commit()
    purge(container)
    assert rows(container, t.idempotency_keys, tid) == 2
    clock.advance(minutes=2)
    purge(container)
    with container.engine.connect() as conn:
        c = t.idempotency_keys.c
        assert list(conn.execute(sa.select(c.key).where(c.tenant_id == tid)).scalars()) == [
            "new-key"
        ]


def test_purge_deletes_wrong_code_counts_whose_window_and_bar_are_over(container, tid, clock):
    policy = container.bar_policy
    uow = container.uow(tid)
    with uow:
        for _ in range(policy.threshold):  # a subscriber barred (a key has its own threshold)
            uow.attempts.record_failure("subscriber:barred", clock.now, policy)
        uow.attempts.record_failure("subscriber:once", clock.now, policy)
        uow.commit()
    keep = timedelta(hours=container.settings.failed_attempt_retention_hours)
    clock.advance(seconds=policy.window.total_seconds() + 1)
    clock.advance(seconds=keep.total_seconds())
    with uow:
        uow.attempts.record_failure("subscriber:recent", clock.now, policy)
        uow.commit()
    purge(container)  # "once": window over long enough; "barred": its bar lasts longer
    scopes = t.failed_attempts.c.scope
    with container.engine.connect() as conn:
        q = sa.select(scopes).where(t.failed_attempts.c.tenant_id == tid)
        assert sorted(conn.execute(q).scalars()) == ["subscriber:barred", "subscriber:recent"]
    clock.advance(seconds=policy.period.total_seconds())
    purge(container)
    with container.engine.connect() as conn:
        assert sorted(conn.execute(q).scalars()) == ["subscriber:recent"]


def test_purge_deletes_spent_and_expired_buckets_past_retention(api, container, tenant, clock):
    tid, key = tenant
    h = auth(key)
    assert api.put("/v1/subscribers/254700000009", json={"attributes": {}}, headers=h).status_code in (200, 201)  # fmt: skip
    wallet = "/v1/subscribers/254700000009/wallet"

    def credit(balance_type, amount, expires_at=None):
        body = {"balance_type": balance_type, "amount": amount}
        if expires_at:
            body["expires_at"] = expires_at.isoformat()
        assert api.post(f"{wallet}/credits", json=body, headers=h).status_code == 200

    credit("spent_mb", 100)
    assert api.post(f"{wallet}/debits", json={"balance_type": "spent_mb", "amount": 100}, headers=h).status_code == 200  # fmt: skip
    credit("expiring_mb", 50, clock.now + timedelta(days=1))
    credit("live_mb", 70)
    credit("later_mb", 20, clock.now + timedelta(days=400))
    retention = container.settings.bucket_retention_days
    clock.advance(days=retention, hours=12)  # spent more than the retention ago; expired
    purge(container)  # half a day less than that
    c = t.buckets.c
    q = sa.select(c.balance_type).where(c.tenant_id == tid)
    with container.engine.connect() as conn:
        assert sorted(conn.execute(q).scalars()) == ["expiring_mb", "later_mb", "live_mb"]
    clock.advance(days=1)
    purge(container)
    with container.engine.connect() as conn:
        assert sorted(conn.execute(q).scalars()) == ["later_mb", "live_mb"]
    assert api.get(wallet, headers=h).json()["totals"] == {"later_mb": 20, "live_mb": 70}


def test_purge_deletes_finished_vouchers_and_never_an_edr(api, container, tenant, clock):
    tid, key = tenant
    type_id = make_type(container, tid, retention_days=10)
    used, code = issue(container, tid, type_id)
    old, old_code = issue(container, tid, type_id)
    redemption.redeem(container.uow(tid), container.code_secret, by_code(code, "s1"), POLICY)
    replaced = redemption.reissue(
        container.uow(tid), container.code_secret, by_code(old_code), POLICY
    )
    live, _ = issue(container, tid, type_id)
    edrs_before = rows(container, t.edrs, tid)
    clock.advance(days=11)
    metrics = purge(container)
    assert purged(metrics, "vouchers") >= 2
    v = t.vouchers.c
    assert rows(container, t.vouchers, tid, v.serial.in_([used.serial, old.serial])) == 0
    # the replacement and the untouched voucher stay; the replacement forgot the link
    assert rows(container, t.vouchers, tid, v.serial == live.serial) == 1
    assert rows(container, t.vouchers, tid, v.serial == replaced.replacement.serial, v.replaces_id.is_(None)) == 1  # fmt: skip
    assert rows(container, t.edrs, tid) == edrs_before + 2  # one voucher.purge each, none gone
    answer = api.get(
        "/v1/edrs", params={"subject_type": "voucher", "subject_id": str(used.serial)},
        headers=auth(key),
    )  # fmt: skip
    assert [e["operation"] for e in answer.json()["items"]] == [
        "voucher.issue", "revenue.added", "voucher.redeem", "revenue.recognized_by_use",
        "voucher.purge",
    ]  # fmt: skip


def test_purge_deletes_in_bounded_batches(container, tid, clock):
    container.settings = container.settings.model_copy(update={"purge_batch": 3})
    uow = container.uow(tid)
    with uow:
        for i in range(7):
            uow.idempotency.claim(f"key-{i}", "f" * 64, clock.now)
        uow.commit()
    clock.advance(hours=container.settings.idempotency_retention_hours + 1)
    deletes = []

    @sa.event.listens_for(container.engine, "before_cursor_execute")
    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("DELETE FROM IDEMPOTENCY_KEYS"):
            deletes.append(statement)

    try:
        metrics = purge(container)
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", count)
    assert rows(container, t.idempotency_keys, tid) == 0
    assert purged(metrics, "idempotency_keys") >= 7
    assert len(deletes) >= 3  # 3 + 3 + 1, each its own statement
    assert all("LIMIT" in s.upper() for s in deletes)
