"""Codes per subscriber: a list's cap, and each subscriber's count of codes from each list

Revision ID: 0014
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voucher_lists") as batch:
        batch.add_column(
            sa.Column(
                "codes_per_subscriber", sa.Integer(), server_default=sa.text("1"), nullable=False
            )
        )
    op.create_table(
        "list_holdings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber_id", sa.Uuid(), nullable=False),
        sa.Column("codes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["voucher_lists.id"], name=op.f("fk_list_holdings_list_id_voucher_lists")
        ),
        sa.PrimaryKeyConstraint("list_id", "subscriber_id", name=op.f("pk_list_holdings")),
    )
    op.create_index(
        "ix_list_codes_subscriber",
        "list_codes",
        ["list_id", "subscriber_id", "id"],
        postgresql_where=sa.text("subscriber_id IS NOT NULL"),
        sqlite_where=sa.text("subscriber_id IS NOT NULL"),
    )
    # Codes held before the cap existed count toward it.
    op.execute(
        "INSERT INTO list_holdings (tenant_id, list_id, subscriber_id, codes) "
        "SELECT tenant_id, list_id, subscriber_id, count(*) FROM list_codes "
        "WHERE subscriber_id IS NOT NULL GROUP BY tenant_id, list_id, subscriber_id"
    )


def downgrade() -> None:
    op.drop_index("ix_list_codes_subscriber", "list_codes")
    op.drop_table("list_holdings")
    with op.batch_alter_table("voucher_lists") as batch:
        batch.drop_column("codes_per_subscriber")
