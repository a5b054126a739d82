"""Campaign condition failures in a row: the streak that pauses a campaign

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_condition_failures") as batch:
        batch.add_column(
            sa.Column("streak", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    op.create_index(
        op.f("ix_campaign_condition_failures_tenant_id"),
        "campaign_condition_failures",
        ["tenant_id"],
        sqlite_where=sa.text("streak > 0"),
        postgresql_where=sa.text("streak > 0"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_condition_failures_tenant_id"), "campaign_condition_failures")
    with op.batch_alter_table("campaign_condition_failures") as batch:
        batch.drop_column("streak")
