"""The fulfilment loop: parameters a redemption sends with its offer, and how a request was
settled (completed, failed, timed out)

Revision ID: 0020
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tessera.adapters.db.types import JSONDocument, UTCDateTime

revision = "0020"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("voucher_types", sa.Column("fulfilment_parameters", JSONDocument, nullable=True))
    op.add_column("fulfilment_requests", sa.Column("parameters", JSONDocument, nullable=True))
    op.add_column(
        "fulfilment_requests", sa.Column("settled_at", UTCDateTime(timezone=True), nullable=True)
    )
    op.add_column("fulfilment_requests", sa.Column("reason", sa.String(200), nullable=True))
    op.create_index(
        op.f("ix_fulfilment_requests_status_created_at"),
        "fulfilment_requests",
        ["status", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_fulfilment_requests_status_created_at"), "fulfilment_requests")
    op.drop_column("fulfilment_requests", "reason")
    op.drop_column("fulfilment_requests", "settled_at")
    op.drop_column("fulfilment_requests", "parameters")
    op.drop_column("voucher_types", "fulfilment_parameters")
