"""Redemption: idempotency keys, failed attempts (barring), fulfilment requests

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tessera.adapters.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = tessera.adapters.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "failed_attempts",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("window_started_at", UTC, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("barred_until", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_failed_attempts_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "scope", name=op.f("pk_failed_attempts")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_idempotency_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])
    op.create_table(
        "fulfilment_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "voucher_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("subscriber_id", sa.Uuid(), nullable=False),
        sa.Column("offer", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_fulfilment_requests_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_fulfilment_requests_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfilment_requests")),
    )
    op.create_index(
        op.f("ix_fulfilment_requests_tenant_id_status_created_at"),
        "fulfilment_requests",
        ["tenant_id", "status", "created_at"],
    )
    op.create_index(
        op.f("ix_vouchers_lifecycle_id_status_status_changed_at"),
        "vouchers",
        ["lifecycle_id", "status", "status_changed_at"],
    )
    op.create_index(
        op.f("ix_vouchers_status_reserved_until"), "vouchers", ["status", "reserved_until"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_vouchers_status_reserved_until"), table_name="vouchers")
    op.drop_index(op.f("ix_vouchers_lifecycle_id_status_status_changed_at"), table_name="vouchers")
    op.drop_table("fulfilment_requests")
    op.drop_table("idempotency_keys")
    op.drop_table("failed_attempts")
