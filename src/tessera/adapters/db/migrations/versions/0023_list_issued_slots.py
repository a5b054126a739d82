"""Issued counters of a list in slots: distributions no longer queue on the list's row

Revision ID: 0023
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "list_issued_slots",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["voucher_lists.id"],
            name=op.f("fk_list_issued_slots_list_id_voucher_lists"),
        ),
        sa.PrimaryKeyConstraint("list_id", "slot", name=op.f("pk_list_issued_slots")),
    )


def downgrade() -> None:
    op.execute(
        "UPDATE voucher_lists SET issued = issued + coalesce((SELECT sum(s.issued) "
        "FROM list_issued_slots s WHERE s.list_id = voucher_lists.id), 0)"
    )
    op.drop_table("list_issued_slots")
