"""Generating batches into each store: hashed codes, contiguous serials, the print file."""

import hashlib
from fractions import Fraction
from pathlib import Path

import pytest
import sqlalchemy as sa

from batching import make_voucher_type, read_print_file
from tessera.adapters.db import tables as t
from tessera.domain import codes
from tessera.domain.batches import BatchRequest, BatchState
from tessera.domain.code_hash import code_hash
from tessera.domain.codes import CodeFormat, CodeSpaceTooSmall, is_well_formed
from tessera.domain.errors import Conflict
from tessera.services import batches


def _make(container, tenant_id, tmp_path: Path, count: int, fmt=CodeFormat(), chunk=1000, **kw):
    vt = make_voucher_type(container, tenant_id)
    request = BatchRequest(vt.id, count, fmt, **kw)
    batch = batches.create_batch(container.uow(tenant_id), request, tmp_path)
    done = batches.generate_batch(
        container.uow(tenant_id), batch.id, container.code_secret, chunk_size=chunk
    )
    return vt, done


def _vouchers(container, batch_id):
    with container.engine.connect() as conn:
        stmt = sa.select(t.vouchers).where(t.vouchers.c.batch_id == batch_id)
        return conn.execute(stmt.order_by(t.vouchers.c.serial)).mappings().all()


def test_generated_batch_stores_only_keyed_hashes_and_prints_every_code(
    container, tenant, tmp_path
):
    vt, batch = _make(container, tenant[0], tmp_path, 2500, include_cost=True)
    assert batch.state is BatchState.GENERATED
    assert batch.generated == batch.requested == 2500
    rows = read_print_file(Path(batch.print_file))
    stored = _vouchers(container, batch.id)
    assert [int(r["serial"]) for r in rows] == [v["serial"] for v in stored]
    assert [v["serial"] for v in stored] == list(range(batch.serials.first, batch.serials.last + 1))
    for row, voucher in zip(rows, stored, strict=True):
        assert is_well_formed(batch.code_format, row["code"])
        assert voucher["code_hash"] == code_hash(container.code_secret, row["code"])
        assert voucher["code_last4"] == row["code"][-4:]
        assert voucher["status"] == "pending"
        assert voucher["lifecycle_id"] == vt.spec.lifecycle_id
    assert rows[0]["type"] == vt.spec.name
    assert rows[0]["grants"] == "1024 data_mb for 30 days"
    assert rows[0]["expiry"] == "30 days from activation"
    assert rows[0]["batch_id"] == str(batch.id)
    assert (rows[0]["cost"], rows[0]["currency"]) == ("250", "KES")
    assert len({r["code"] for r in rows}) == 2500


def test_print_file_sha256_is_recorded_in_the_generate_edr(container, tenant, tmp_path):
    _vt, batch = _make(container, tenant[0], tmp_path, 300)
    digest = hashlib.sha256(Path(batch.print_file).read_bytes()).hexdigest()
    assert batch.print_file_sha256 == digest
    with container.engine.connect() as conn:
        edr = conn.execute(
            sa.select(t.edrs.c.details).where(
                t.edrs.c.operation == "batch.generate", t.edrs.c.subject_id == str(batch.id)
            )
        ).scalar_one()
    assert edr["print_file_sha256"] == digest
    assert edr["count"] == 300


def test_codes_stay_unique_when_the_code_space_forces_collisions(
    container, tenant, tmp_path, monkeypatch
):
    # 9000 codes of 4 alphanumeric symbols (31**4 = 923521 codes), twice in one tenant:
    # about 40 collisions within a batch and 90 across are expected.
    monkeypatch.setattr(codes, "_MAX_GUESS_ODDS_EXACT", Fraction(1))
    fmt = CodeFormat(length=4, alphabet="alphanumeric", check_character=False)
    _vt, first = _make(container, tenant[0], tmp_path, 9000, fmt, chunk=4000)
    _vt, second = _make(container, tenant[0], tmp_path, 9000, fmt, chunk=4000)
    rows = read_print_file(Path(first.print_file)) + read_print_file(Path(second.print_file))
    assert len({r["code"] for r in rows}) == 18000
    assert second.serials.first == first.serials.last + 1
    assert len(_vouchers(container, second.id)) == 9000


def test_serials_increase_per_tenant_and_each_batch_owns_a_contiguous_range(
    container, tenant, tmp_path
):
    _vt, a = _make(container, tenant[0], tmp_path, 10)
    _vt, b = _make(container, tenant[0], tmp_path, 5)
    assert (a.serials.first, a.serials.last, b.serials.first, b.serials.last) == (1, 10, 11, 15)


def test_a_batch_whose_code_space_is_too_small_is_refused(container, tenant, tmp_path):
    vt = make_voucher_type(container, tenant[0])
    with pytest.raises(CodeSpaceTooSmall) as caught:
        batches.create_batch(
            container.uow(tenant[0]), BatchRequest(vt.id, 1001, CodeFormat(length=9)), tmp_path
        )
    assert caught.value.extra["count"] == 1001
    assert caught.value.extra["code_space"] == 10**9


def test_a_batch_of_an_inactive_voucher_type_is_refused(container, tenant, tmp_path):
    vt = make_voucher_type(container, tenant[0], active=False)
    with pytest.raises(Conflict) as caught:
        batches.create_batch(container.uow(tenant[0]), BatchRequest(vt.id, 10), tmp_path)
    assert caught.value.code == "voucher_type_inactive"
