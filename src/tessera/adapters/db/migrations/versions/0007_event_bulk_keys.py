"""Events and aggregate values: no per-row tenant foreign key (ingest speed)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DROPPED = {
    "events": "fk_events_tenant_id_tenants",
    "aggregate_values": "fk_aggregate_values_tenant_id_tenants",
}


def upgrade() -> None:
    for table, name in DROPPED.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name in DROPPED.items():
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, "tenants", ["tenant_id"], ["id"])
