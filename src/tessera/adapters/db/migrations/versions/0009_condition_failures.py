"""Campaign condition failures: how many, the last message and when, per campaign

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tessera.adapters.db.types import UTCDateTime

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_condition_failures",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_message", sa.String(200), nullable=False),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_condition_failures_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaign_condition_failures_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_condition_failures")),
    )


def downgrade() -> None:
    op.drop_table("campaign_condition_failures")
