"""`tessera worker --once` in a real process, and who runs the background jobs under
`serve`: the HTTP workers themselves on SQLite, nobody (`tessera worker`) on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from conftest import TEST_LIST_KEY
from tessera.adapters.db import tables as t
from tessera.domain.statuses import VoucherStatus
from tessera.entrypoints.http.app import create_app
from tessera.services import redemption
from vouchering import issue, make_type

JOBS = {
    "expire", "fulfilment-timeouts", "release-holds", "dispatch", "batch-recovery", "seal", "purge",
}  # fmt: skip


WORKER = [sys.executable, "-m", "tessera.entrypoints.cli", "worker"]


def worker_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PROMETHEUS_"))}
    return env | {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": "cli-test-secret",
        "TESSERA_LIST_KEY": TEST_LIST_KEY,
        "TESSERA_WEBHOOK_TIMEOUT_SECONDS": "2",
    }


def worker_once(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WORKER, "--once", "--format", "json"],
        env=worker_env(database_url), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def keys_of(container, tid):
    c = t.idempotency_keys.c
    with container.engine.connect() as conn:
        return sorted(conn.execute(sa.select(c.key).where(c.tenant_id == tid)).scalars())


def test_worker_once_runs_each_job_once_and_exits(container, database_url, tenant):
    tid = tenant[0]
    now = datetime.now(UTC)
    hours = container.settings.idempotency_retention_hours
    with container.engine.begin() as conn:
        for key, age in (("stale", hours + 1), ("fresh", 1)):
            conn.execute(
                sa.insert(t.idempotency_keys).values(
                    tenant_id=tid, key=key, request_fingerprint="f" * 64, status_code=200,
                    response={}, created_at=now - timedelta(hours=age),
                )
            )  # fmt: skip
    edrs = t.edrs.c
    with container.engine.connect() as conn:
        edrs_before = conn.execute(
            sa.select(sa.func.count()).where(edrs.tenant_id == tid)
        ).scalar_one()
    done = worker_once(database_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == dict.fromkeys(JOBS, "ok")
    assert keys_of(container, tid) == ["fresh"]
    with container.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).where(edrs.tenant_id == tid)).scalar_one()
            == edrs_before
        )
        # each lease was handed back on the way out
        assert not set(conn.execute(sa.select(t.leases.c.name)).scalars()) & JOBS
    assert "stale" not in done.stderr and "fresh" not in done.stderr  # no keys in logs


def test_worker_once_leaves_a_job_whose_lease_another_worker_holds(container, database_url, tenant):
    tid = tenant[0]
    with container.engine.begin() as conn:
        conn.execute(
            sa.insert(t.idempotency_keys).values(
                tenant_id=tid, key="stale", request_fingerprint="f" * 64, status_code=200,
                response={}, created_at=datetime.now(UTC) - timedelta(days=30),
            )
        )  # fmt: skip
        conn.execute(
            sa.insert(t.leases).values(
                name="purge", holder="another-host:1:abc", expires_at=datetime.now(UTC) + timedelta(hours=1)
            )
        )  # fmt: skip
    try:
        done = worker_once(database_url)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["purge"] == "held elsewhere"
        assert keys_of(container, tid) == ["stale"]
    finally:
        with container.engine.begin() as conn:
            conn.execute(sa.delete(t.leases).where(t.leases.c.name == "purge"))


def test_serve_runs_the_background_jobs_itself_only_on_sqlite(container, tenant, clock, store):
    tid = tenant[0]
    type_id = make_type(container, tid, validity_days=1, grace_days=0)
    voucher, _code = issue(container, tid, type_id)
    clock.advance(days=2)  # past expiry: the expire job's first run would take it

    def status():
        return redemption.describe(container.uow(tid), voucher.serial).voucher.status

    with TestClient(create_app(container, background=True)):
        deadline = time.monotonic() + (10 if store == "sqlite" else 1.5)
        while status() is VoucherStatus.AVAILABLE and time.monotonic() < deadline:
            time.sleep(0.05)
        in_process = any(thread.name == "tessera-worker" for thread in threading.enumerate())
        if store == "sqlite":
            assert status() is VoucherStatus.EXPIRED
            assert in_process
        else:
            assert status() is VoucherStatus.AVAILABLE
            assert not in_process
    assert not any(thread.name == "tessera-worker" for thread in threading.enumerate())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def holders(container) -> dict[str, str]:
    c = t.leases.c
    with container.engine.connect() as conn:
        return {row.name: row.holder for row in conn.execute(sa.select(c.name, c.holder))}


def test_a_running_worker_serves_its_metrics_and_hands_its_leases_back_on_sigterm(
    container, database_url
):
    port = _free_port()
    process = subprocess.Popen(
        [*WORKER, "--metrics-port", str(port)], env=worker_env(database_url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline, text = time.monotonic() + 60, ""
        while 'tessera_worker_job_runs_total{job="purge",outcome="ok"} 1.0' not in text:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            except httpx.TransportError:
                continue
        assert 'tessera_worker_job_runs_total{job="expire",outcome="ok"}' in text
        assert "tessera_purged_rows_total" in text
        held = holders(container)
        assert set(held) >= JOBS
        assert all(f":{process.pid}:" in held[job] for job in JOBS)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not JOBS & set(holders(container))


def test_purge_once_from_the_cli_says_what_went_from_each_table(container, database_url, tenant):
    with container.engine.begin() as conn:
        conn.execute(
            sa.insert(t.idempotency_keys).values(
                tenant_id=tenant[0], key="stale", request_fingerprint="f" * 64, status_code=200,
                response={}, created_at=datetime.now(UTC) - timedelta(days=30),
            )
        )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tessera.entrypoints.cli", "purge", "--format", "json"],
        env=worker_env(database_url), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows["idempotency_keys"] >= 1
    assert {"vouchers", "events", "buckets", "notifications"} <= set(rows)
    assert keys_of(container, tenant[0]) == []
