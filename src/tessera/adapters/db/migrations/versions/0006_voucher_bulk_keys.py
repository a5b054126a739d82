"""Vouchers: no per-row foreign keys for tenant, type, lifecycle and batch (bulk speed)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DROPPED = {
    "fk_vouchers_tenant_id_tenants": ("tenants", "tenant_id"),
    "fk_vouchers_voucher_type_id_voucher_types": ("voucher_types", "voucher_type_id"),
    "fk_vouchers_lifecycle_id_lifecycles": ("lifecycles", "lifecycle_id"),
    "fk_vouchers_batch_id_batches": ("batches", "batch_id"),
}


def upgrade() -> None:
    with op.batch_alter_table("vouchers") as batch:
        for name in DROPPED:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("vouchers") as batch:
        for name, (table, column) in DROPPED.items():
            batch.create_foreign_key(name, table, [column], ["id"])
