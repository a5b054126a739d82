"""Vouchers, batches and serial counters

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tessera.adapters.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serial_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("next_serial", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_serial_counters_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_serial_counters")),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("voucher_type_id", sa.Uuid(), nullable=False),
        sa.Column("lifecycle_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested", sa.Integer(), nullable=False),
        sa.Column("generated", sa.Integer(), nullable=False),
        sa.Column(
            "code_format",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("serial_first", sa.BigInteger(), nullable=True),
        sa.Column("serial_last", sa.BigInteger(), nullable=True),
        sa.Column("print_file", sa.String(length=500), nullable=True),
        sa.Column("print_file_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "print_file_fetched_at",
            tessera.adapters.db.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("include_cost", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("worker_host", sa.String(length=255), nullable=True),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["lifecycle_id"], ["lifecycles.id"], name=op.f("fk_batches_lifecycle_id_lifecycles")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_batches_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["voucher_type_id"],
            ["voucher_types.id"],
            name=op.f("fk_batches_voucher_type_id_voucher_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index(op.f("ix_batches_state"), "batches", ["state"])
    op.create_table(
        "vouchers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_last4", sa.String(length=4), nullable=False),
        sa.Column("voucher_type_id", sa.Uuid(), nullable=False),
        sa.Column("lifecycle_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column(
            "issued_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "activated_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "reserved_until", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "status_changed_at",
            tessera.adapters.db.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("subscriber_id", sa.Uuid(), nullable=True),
        sa.Column(
            "replaces_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_vouchers_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["lifecycle_id"], ["lifecycles.id"], name=op.f("fk_vouchers_lifecycle_id_lifecycles")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["vouchers.id"], name=op.f("fk_vouchers_replaces_id_vouchers")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_vouchers_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_vouchers_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["voucher_type_id"],
            ["voucher_types.id"],
            name=op.f("fk_vouchers_voucher_type_id_voucher_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("tenant_id", "code_hash", name=op.f("uq_vouchers_tenant_id_code_hash")),
        sa.UniqueConstraint("tenant_id", "serial", name=op.f("uq_vouchers_tenant_id_serial")),
    )
    op.create_index(op.f("ix_vouchers_batch_id_serial"), "vouchers", ["batch_id", "serial"])
    op.create_index(
        op.f("ix_vouchers_replaces_id"),
        "vouchers",
        ["replaces_id"],
        sqlite_where=sa.text("replaces_id IS NOT NULL"),
        postgresql_where=sa.text("replaces_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("vouchers")
    op.drop_table("batches")
    op.drop_table("serial_counters")
