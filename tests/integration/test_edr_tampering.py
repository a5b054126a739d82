"""EDRs sealed by the worker's seal job prove themselves: a row updated, deleted or inserted
directly in the database (the append-only triggers switched off for the tamperer) makes
verify fail at that row; an untouched tenant verifies, on both stores."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from tessera.adapters.db import tables as t
from tessera.domain.edr import EdrDraft
from tessera.domain.edr_seal import Breach
from tessera.entrypoints.worker import Worker, WorkerMetrics, jobs_for
from tessera.services import edr_seal


def write_edrs(container, tenant_id, n: int) -> None:
    with container.uow(tenant_id) as uow:
        drafts = [
            EdrDraft("test.op", "thing", str(i), amount_minor=i, currency="KES", details={"i": i})
            for i in range(n)
        ]
        uow.edrs.append_many(drafts, container.clock())
        uow.commit()


def edr_ids(container, tenant_id) -> list[int]:
    c = t.edrs.c
    with container.engine.connect() as conn:
        stmt = sa.select(c.id).where(c.tenant_id == tenant_id).order_by(c.id)
        return list(conn.execute(stmt).scalars())


def seal_job(container) -> None:
    metrics = WorkerMetrics(CollectorRegistry())
    jobs = [j for j in jobs_for(container, metrics) if j.name == "seal"]
    assert Worker(container, jobs, metrics).run_once() == {"seal": "ok"}


def tamper(container, statement: str, **params) -> None:
    """Runs ``statement`` past the append-only triggers, as someone with the database would."""
    with container.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            for op in ("update", "delete"):
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS edrs_append_only_{op}"))
        conn.execute(sa.text(statement), params)


@pytest.fixture
def sealed(container, make_tenant):
    """A tenant with 25 EDRs sealed in blocks of 10, beside another tenant's EDRs."""
    container.settings.seal_block_size = 10
    tid, _ = make_tenant()
    other, _ = make_tenant()
    for owner in (tid, other, tid):
        write_edrs(container, owner, 12)
    seal_job(container)
    return tid, other


def test_the_seal_job_seals_every_committed_edr_and_verify_holds(container, sealed):
    tid, other = sealed
    result = edr_seal.verify_tenant(container.uow(tid))
    assert result.ok and result.unsealed == 0
    assert result.sealed == len(edr_ids(container, tid)) == 25  # 24 + key.create
    assert result.blocks == 3
    assert edr_seal.verify_tenant(container.uow(other)).ok
    write_edrs(container, tid, 3)
    assert edr_seal.verify_tenant(container.uow(tid)).unsealed == 3
    seal_job(container)
    again = edr_seal.verify_tenant(container.uow(tid))
    assert again.ok and again.unsealed == 0 and again.sealed == 28


def test_a_row_updated_in_the_database_fails_verify_at_that_row(container, sealed):
    tid, other = sealed
    target = edr_ids(container, tid)[17]
    tamper(container, "UPDATE edrs SET amount_minor = amount_minor + 1 WHERE id = :i", i=target)
    found = edr_seal.verify_tenant(container.uow(tid)).first
    assert found is not None and (found.breach, found.edr_id) == (Breach.CHANGED, target)
    assert edr_seal.verify_tenant(container.uow(other)).ok


def test_a_details_edit_is_a_change_too(container, sealed):
    tid, _ = sealed
    target = edr_ids(container, tid)[3]
    tamper(container, "UPDATE edrs SET details = :d WHERE id = :i", d='{"i": 99}', i=target)
    found = edr_seal.verify_tenant(container.uow(tid)).first
    assert found is not None and (found.breach, found.edr_id) == (Breach.CHANGED, target)


def test_a_row_deleted_in_the_database_fails_verify_at_that_row(container, sealed):
    tid, _ = sealed
    target = edr_ids(container, tid)[9]
    tamper(container, "DELETE FROM edrs WHERE id = :i", i=target)
    found = edr_seal.verify_tenant(container.uow(tid)).first
    assert found is not None and (found.breach, found.edr_id) == (Breach.REMOVED, target)


def test_a_row_inserted_into_a_sealed_range_fails_verify_at_that_row(container, sealed):
    tid, other = sealed
    # An id inside the tenant's sealed range: one of the other tenant's rows, made room for.
    mine = edr_ids(container, tid)
    slot = next(i for i in edr_ids(container, other) if mine[0] < i < mine[-1])
    tamper(container, "DELETE FROM edrs WHERE id = :i", i=slot)
    with container.engine.begin() as conn:
        conn.execute(
            sa.insert(t.edrs).values(
                id=slot, tenant_id=tid, occurred_at=container.clock(), operation="voucher.redeem",
                subject_type="voucher", subject_id="42", amount_minor=100, currency="KES",
                details={},
            )
        )  # fmt: skip
    found = edr_seal.verify_tenant(container.uow(tid)).first
    assert found is not None and (found.breach, found.edr_id) == (Breach.INSERTED, slot)


def test_an_edited_block_fails_verify(container, sealed):
    tid, _ = sealed
    c = t.edr_blocks.c
    with container.engine.begin() as conn:
        conn.execute(
            sa.update(t.edr_blocks).where(c.tenant_id == tid, c.seq == 2).values(hash="0" * 64)
        )
    found = edr_seal.verify_tenant(container.uow(tid)).first
    assert found is not None and (found.breach, found.block_seq) == (Breach.BLOCK, 2)


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_an_edr_of_a_transaction_still_running_is_not_sealed_past(container, make_tenant):
    """PostgreSQL draws ids at insert, not at commit: an open transaction's lower id must not
    be left out of a block sealed over a later, committed one (SQLite has one writer at a
    time: what a reader sees is settled)."""
    tid, _ = make_tenant()
    seal_job(container)
    slow = container.uow(tid)
    with slow:
        slow.edrs.append(EdrDraft("test.slow", "thing", "slow"), container.clock())
        write_edrs(container, tid, 2)  # committed, with higher ids
        with container.directory() as d:
            assert d.edr_horizon.settled(wait_seconds=0.2) is None
        assert edr_seal.seal_all(container.directory, container.uow, wait_seconds=0.2).waiting
        threading.Timer(0.3, slow.commit).start()  # while settled() below waits
        with container.directory() as d:
            horizon = d.edr_horizon.settled(wait_seconds=10)
    assert horizon is not None and horizon >= max(edr_ids(container, tid))
    seal_job(container)
    result = edr_seal.verify_tenant(container.uow(tid))
    assert result.ok and result.unsealed == 0
