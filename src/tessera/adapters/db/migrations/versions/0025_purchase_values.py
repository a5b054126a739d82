"""Vouchers worth money at a point of sale: a type's purchase value, a voucher's spent value

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tessera.adapters.db.types import JSONDocument

revision = "0025"
down_revision = "0024"  # landed after brands (0026) and finance (0024), so it follows them
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("voucher_types", sa.Column("purchase_value", JSONDocument, nullable=True))
    # NULL for every voucher but a stored value's after its first use: a batch of a million
    # rows writes nothing more, and adding a nullable column rewrites no row on either store.
    op.add_column("vouchers", sa.Column("value_spent_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("vouchers", "value_spent_minor")
    op.drop_column("voucher_types", "purchase_value")
