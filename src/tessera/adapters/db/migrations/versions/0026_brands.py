"""Tenant groups: a brand's host and its suspension; voucher types shared with brands

Revision ID: 0026
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tessera.adapters.db.types import UTCDateTime

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("host_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("suspended_at", UTCDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_tenants_host_id_tenants"), "tenants", ["host_id"], ["id"])
    op.create_index(
        "ix_tenants_host_id_id",
        "tenants",
        ["host_id", "id"],
        postgresql_where=sa.text("host_id IS NOT NULL"),
    )
    op.create_table(
        "voucher_type_shares",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("voucher_type_id", sa.Uuid(), nullable=False),
        sa.Column("brand_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_voucher_type_shares_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["voucher_type_id"],
            ["voucher_types.id"],
            name=op.f("fk_voucher_type_shares_voucher_type_id_voucher_types"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["tenants.id"], name=op.f("fk_voucher_type_shares_brand_id_tenants")
        ),
        sa.PrimaryKeyConstraint("voucher_type_id", "brand_id", name=op.f("pk_voucher_type_shares")),
    )
    op.create_index(
        "ix_voucher_type_shares_brand_id_tenant_id_voucher_type_id",
        "voucher_type_shares",
        ["brand_id", "tenant_id", "voucher_type_id"],
    )


def downgrade() -> None:
    op.drop_table("voucher_type_shares")
    op.drop_index("ix_tenants_host_id_id", "tenants")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_constraint(op.f("fk_tenants_host_id_tenants"), type_="foreignkey")
        batch.drop_column("suspended_at")
        batch.drop_column("host_id")
