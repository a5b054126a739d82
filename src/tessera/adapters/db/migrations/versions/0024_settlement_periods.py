"""Settlement periods: a closed period's statement lines, and which statement took each
reward and each reversal (issue 16 item 3)

Revision ID: 0024
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tessera.adapters.db.types import UTCDateTime

revision = "0024"
down_revision = "0026"
branch_labels = None
depends_on = None

UNSETTLED = "funding_partner IS NOT NULL AND granted_in IS NULL"
REVERSAL_UNSETTLED = "funding_partner IS NOT NULL AND status = 'reversed' AND reversal_in IS NULL"


def upgrade() -> None:
    op.create_table(
        "settlement_periods",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=True),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=False),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_settlement_periods_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_settlement_periods")),
    )
    op.create_table(
        "settlement_lines",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("rewards", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("events_reversed", sa.BigInteger(), nullable=False),
        sa.Column("reversed", sa.BigInteger(), nullable=False),
        sa.Column("reversed_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "seq"],
            ["settlement_periods.tenant_id", "settlement_periods.seq"],
            name=op.f("fk_settlement_lines_tenant_id_settlement_periods"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "seq", "partner", "currency", name=op.f("pk_settlement_lines")
        ),
    )
    with op.batch_alter_table("rewards") as batch:
        batch.add_column(sa.Column("granted_in", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("reversal_in", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_rewards_unsettled",
        "rewards",
        ["tenant_id", "rewarded_at"],
        postgresql_where=sa.text(UNSETTLED),
        sqlite_where=sa.text(UNSETTLED),
    )
    op.create_index(
        "ix_rewards_reversal_unsettled",
        "rewards",
        ["tenant_id", "reversed_at"],
        postgresql_where=sa.text(REVERSAL_UNSETTLED),
        sqlite_where=sa.text(REVERSAL_UNSETTLED),
    )


def downgrade() -> None:
    op.drop_index("ix_rewards_reversal_unsettled", "rewards")
    op.drop_index("ix_rewards_unsettled", "rewards")
    with op.batch_alter_table("rewards") as batch:
        batch.drop_column("reversal_in")
        batch.drop_column("granted_in")
    op.drop_table("settlement_lines")
    op.drop_table("settlement_periods")
