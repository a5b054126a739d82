"""Partner keys: the voucher lists a partner key is bound to

Revision ID: 0022
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("api_keys", sa.Column("list_ids", document, nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "list_ids")
