"""Foundation: tenants, keys, lifecycles, voucher types, subscribers, buckets, edrs

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tessera.adapters.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("display_prefix", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "revoked_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "edrs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "occurred_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("operation", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=80), nullable=False),
        sa.Column("status_before", sa.String(length=20), nullable=True),
        sa.Column("status_after", sa.String(length=20), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_edrs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edrs")),
    )
    op.create_index(op.f("ix_edrs_tenant_id_id"), "edrs", ["tenant_id", "id"])
    op.create_index(op.f("ix_edrs_tenant_id_occurred_at"), "edrs", ["tenant_id", "occurred_at"])
    op.create_index(
        op.f("ix_edrs_tenant_id_operation_id"), "edrs", ["tenant_id", "operation", "id"]
    )
    op.create_index(
        op.f("ix_edrs_tenant_id_subject_type_subject_id_id"),
        "edrs",
        ["tenant_id", "subject_type", "subject_id", "id"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_POSTGRES)
    else:
        for operation in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=operation, OP=operation.upper()))

    op.create_table(
        "lifecycles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("validity_kind", sa.String(length=20), nullable=False),
        sa.Column(
            "expires_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("validity_days", sa.Integer(), nullable=True),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("reservation_hold_seconds", sa.Integer(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_lifecycles_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycles")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_lifecycles_tenant_id_name")),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("service_state", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subscribers_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscribers")),
        sa.UniqueConstraint(
            "tenant_id", "external_id", name=op.f("uq_subscribers_tenant_id_external_id")
        ),
    )
    op.create_table(
        "buckets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber_id", sa.Uuid(), nullable=False),
        sa.Column("balance_type", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "expires_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_buckets_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"], name=op.f("fk_buckets_subscriber_id_subscribers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_buckets_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buckets")),
    )
    op.create_index(
        op.f("ix_buckets_subscriber_id_balance_type"), "buckets", ["subscriber_id", "balance_type"]
    )
    op.create_table(
        "voucher_types",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "buckets",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("lifecycle_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("fulfilment_offer", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["lifecycle_id"],
            ["lifecycles.id"],
            name=op.f("fk_voucher_types_lifecycle_id_lifecycles"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_voucher_types_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_types")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_voucher_types_tenant_id_name")),
    )


def downgrade() -> None:
    op.drop_table("voucher_types")
    op.drop_table("buckets")
    op.drop_table("subscribers")
    op.drop_table("lifecycles")
    op.drop_table("edrs")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS edrs_append_only()")
    op.drop_table("api_keys")
    op.drop_table("tenants")


# EDRs are append-only: the store itself refuses to change or remove one.
APPEND_ONLY_SQLITE = """
CREATE TRIGGER edrs_append_only_{op} BEFORE {OP} ON edrs
BEGIN SELECT RAISE(ABORT, 'edrs are append-only'); END
"""

APPEND_ONLY_POSTGRES = """
CREATE FUNCTION edrs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'edrs are append-only'; END $$;
CREATE TRIGGER edrs_append_only BEFORE UPDATE OR DELETE ON edrs
FOR EACH ROW EXECUTE FUNCTION edrs_append_only();
"""
