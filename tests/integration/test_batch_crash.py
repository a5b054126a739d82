"""A generation that dies leaves nothing usable: the batch is failed at the next start."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from batching import make_voucher_type, read_print_file
from conftest import TEST_CODE_SECRET
from tessera.adapters.db import tables as t
from tessera.adapters.print_files import partial_path
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.domain.batches import BatchRequest, BatchState
from tessera.domain.code_hash import code_hash
from tessera.services import batches

# Only the worker's pid may decide in these tests, never the heartbeat.
NO_TIMEOUT = timedelta(days=36500)


def _recover(container):
    # A real clock: the test container's clock stands at a fixed moment.
    real = build(Settings(database_url=container.settings.database_url))
    try:
        return batches.fail_abandoned_batches(real.directory(), real.uow, NO_TIMEOUT)
    finally:
        real.close()


def _batch_row(container, batch_id):
    with container.engine.connect() as conn:
        return conn.execute(sa.select(t.batches).where(t.batches.c.id == batch_id)).mappings().one()


def _tenant_name(container, tenant_id):
    with container.engine.connect() as conn:
        return conn.execute(
            sa.select(t.tenants.c.name).where(t.tenants.c.id == tenant_id)
        ).scalar_one()


@pytest.mark.slow
def test_a_generation_killed_midway_leaves_a_failed_batch_and_no_usable_voucher(
    container, tenant, tmp_path
):
    vt = make_voucher_type(container, tenant[0])
    print_file = tmp_path / "cards.csv"
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": container.settings.database_url,
        "TESSERA_CODE_SECRET": TEST_CODE_SECRET.get_secret_value(),
        "TESSERA_BATCH_CHUNK_SIZE": "20000",
    }
    command = [
        sys.executable, "-m", "tessera.entrypoints.cli", "batch", "create",
        "--tenant", _tenant_name(container, tenant[0]), "--type", str(vt.id),
        "--count", "3000000", "--length", "16", "--print-file", str(print_file),
    ]  # fmt: skip
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        generated = 0
        while generated < 60_000:  # three chunks committed, more on the way
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "generation did not get going"
            time.sleep(0.05)
            with container.engine.connect() as conn:
                generated = (
                    conn.execute(
                        sa.select(sa.func.max(t.batches.c.generated)).where(
                            t.batches.c.tenant_id == tenant[0]
                        )
                    ).scalar_one()
                    or 0
                )
    finally:
        worker.send_signal(signal.SIGKILL)  # kill -9: no cleanup of any kind runs
        worker.wait()
        log.close()

    with container.engine.connect() as conn:
        batch_id = conn.execute(
            sa.select(t.batches.c.id).where(t.batches.c.tenant_id == tenant[0])
        ).scalar_one()
    assert _batch_row(container, batch_id)["state"] == "generating"
    partial = partial_path(print_file)
    leaked = [row["code"] for row in read_print_file(partial)]
    assert len(leaked) >= 40_000  # the partial file did hold plain codes

    assert _recover(container) == [batch_id]

    row = _batch_row(container, batch_id)
    assert row["state"] == BatchState.FAILED.value
    assert "stopped" in row["error"]
    assert not partial.exists()
    assert not print_file.exists()
    hashes = [code_hash(container.code_secret, code) for code in leaked]
    with container.engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(
                t.vouchers.c.tenant_id == tenant[0],
                sa.or_(t.vouchers.c.batch_id == batch_id, t.vouchers.c.code_hash.in_(hashes)),
            )
        ).scalar_one()
        edr = conn.execute(
            sa.select(t.edrs.c.details).where(
                t.edrs.c.operation == "batch.fail", t.edrs.c.subject_id == str(batch_id)
            )
        ).scalar_one()
    assert left == 0  # no voucher of the batch exists to validate or redeem
    assert edr["vouchers_removed"] >= 60_000


def test_a_batch_left_generating_by_this_process_is_failed_on_recovery(container, tenant, tmp_path):
    # Same pid, but no thread of this process generates it: an earlier process that had
    # the same pid (pid 1 in a container) left it behind.
    vt = make_voucher_type(container, tenant[0])
    batch = batches.create_batch(container.uow(tenant[0]), BatchRequest(vt.id, 10), tmp_path)
    assert batch.id in _recover(container)
    assert _batch_row(container, batch.id)["state"] == "failed"


def test_a_batch_whose_worker_is_alive_is_left_alone(container, tenant, tmp_path):
    vt = make_voucher_type(container, tenant[0])
    batch = batches.create_batch(container.uow(tenant[0]), BatchRequest(vt.id, 10), tmp_path)
    with container.engine.begin() as conn:
        conn.execute(
            sa.update(t.batches).where(t.batches.c.id == batch.id).values(worker_pid=os.getppid())
        )
    assert batch.id not in _recover(container)
    assert _batch_row(container, batch.id)["state"] == "generating"
    batches.fail_batch(container.uow(tenant[0]), batch.id, "test over")


def test_a_silent_worker_on_another_host_is_failed_after_the_heartbeat_timeout(
    container, tenant, tmp_path, clock
):
    vt = make_voucher_type(container, tenant[0])
    batch = batches.create_batch(container.uow(tenant[0]), BatchRequest(vt.id, 10), tmp_path)
    with container.engine.begin() as conn:
        conn.execute(
            sa.update(t.batches)
            .where(t.batches.c.id == batch.id)
            .values(worker_host="elsewhere", worker_pid=1)
        )
    recover = lambda: batches.fail_abandoned_batches(
        container.directory(), container.uow, timedelta(minutes=5)
    )
    clock.advance(minutes=4)
    assert batch.id not in recover()
    clock.advance(minutes=2)
    assert batch.id in recover()


def test_the_print_file_is_refused_while_generating(container, tenant, tmp_path):
    vt = make_voucher_type(container, tenant[0])
    batch = batches.create_batch(container.uow(tenant[0]), BatchRequest(vt.id, 10), tmp_path)
    with pytest.raises(batches.Conflict) as caught:
        batches.take_print_file(container.uow(tenant[0]), batch.id)
    assert caught.value.code == "batch_generating"
    batches.fail_batch(container.uow(tenant[0]), batch.id, "test over")
    assert not Path(batch.print_file).exists()
