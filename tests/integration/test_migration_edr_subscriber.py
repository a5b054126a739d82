"""Migration 0018 gives every EDR already written the subscriber it is about (the rule of
domain/edr.py), and the EDRs stay append-only afterwards, on both stores."""

import json
import os
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from conftest import POSTGRES_URL
from tessera.adapters.db.migrate import upgrade
from tessera.domain.edr import EdrDraft, subscriber_of

T = uuid.uuid4()
OLD = [  # (operation, subject_type, subject_id, details) as written before 0018
    ("voucher.redeem", "voucher", "17", {"subscriber": "2547001", "voucher_type": "x"}),
    ("wallet.credit", "subscriber", "2547002", {}),
    ("voucher.bar", "caller", "subscriber:2547003", {"threshold": 5}),
    ("voucher.bar", "caller", "key:abc", {"threshold": 5}),
    ("batch.activate", "batch", "b1", {}),
    ("list.distribute", "voucher_list", "l1", {"subscriber": "2547004", "code_id": 3}),
]


@pytest.fixture
def blank_url(store, tmp_path, request):
    """A database with nothing in it yet."""
    if store == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    request.getfixturevalue("postgres_database_url")  # skips (or fails) as the others do
    name = f"tessera_mig_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_edrs_written_before_the_migration_name_their_subscriber_and_stay_append_only(blank_url):
    engine = sa.create_engine(blank_url)
    upgrade(engine, "0011")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO tenants (id, name, created_at) VALUES (:id, 'old', :at)"),
            {"id": T if conn.dialect.name == "postgresql" else T.hex, "at": "2026-11-01 00:00:00"},
        )
        for operation, subject_type, subject_id, details in OLD:
            conn.execute(
                sa.text(
                    "INSERT INTO edrs (tenant_id, occurred_at, operation, subject_type, "
                    "subject_id, details) VALUES (:t, :at, :op, :st, :sid, :d)"
                ),
                {
                    "t": T if conn.dialect.name == "postgresql" else T.hex,
                    "at": "2026-11-01 00:00:00",
                    "op": operation,
                    "st": subject_type,
                    "sid": subject_id,
                    "d": json.dumps(details),
                },
            )
    upgrade(engine, "head")
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT subscriber FROM edrs ORDER BY id")).scalars().all()
    expected = [subscriber_of(EdrDraft(op, st, sid, details=d)) for op, st, sid, d in OLD]
    assert found == expected == ["2547001", "2547002", "2547003", None, None, "2547004"]
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE edrs SET subscriber = 'x'"))
    engine.dispose()
