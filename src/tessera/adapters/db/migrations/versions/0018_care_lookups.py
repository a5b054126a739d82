"""Customer care lookups: the subscriber an EDR is about, and the indexes of the lookups

Revision ID: 0018
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0020"
branch_labels = None
depends_on = None

# The subscriber an existing EDR is about, by the rule of domain/edr.py (subscriber_of): its
# subject when that is a subscriber, a bar's "subscriber:<id>" scope, else details.subscriber.
_BACKFILL = """
UPDATE edrs SET subscriber = CASE
    WHEN subject_type = 'subscriber' THEN subject_id
    WHEN subject_type = 'caller' AND subject_id LIKE 'subscriber:%' THEN substr(subject_id, 12)
    WHEN subject_type = 'caller' THEN NULL
    ELSE {details_subscriber} END
"""

# Copied from 0001: the append-only triggers, lifted for the backfill and put back.
_APPEND_ONLY_SQLITE = """
CREATE TRIGGER edrs_append_only_{op} BEFORE {OP} ON edrs
BEGIN SELECT RAISE(ABORT, 'edrs are append-only'); END
"""


def upgrade() -> None:
    op.add_column("edrs", sa.Column("subscriber", sa.String(length=80), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE edrs DISABLE TRIGGER edrs_append_only")
        op.execute(_BACKFILL.format(details_subscriber="details ->> 'subscriber'"))
        op.execute("ALTER TABLE edrs ENABLE TRIGGER edrs_append_only")
    else:
        op.execute("DROP TRIGGER edrs_append_only_update")
        op.execute(_BACKFILL.format(details_subscriber="json_extract(details, '$.subscriber')"))
        op.execute(_APPEND_ONLY_SQLITE.format(op="update", OP="UPDATE"))
    op.create_index(
        op.f("ix_edrs_tenant_id_subscriber_id"),
        "edrs",
        ["tenant_id", "subscriber", "id"],
        sqlite_where=sa.text("subscriber IS NOT NULL"),
        postgresql_where=sa.text("subscriber IS NOT NULL"),
    )
    _voucher_indexes()
    op.create_index(
        op.f("ix_rewards_tenant_id_subscriber_rewarded_at_id"),
        "rewards",
        ["tenant_id", "subscriber", "rewarded_at", "id"],
    )
    op.create_index(
        op.f("ix_rewards_tenant_id_campaign_id_rewarded_at_id"),
        "rewards",
        ["tenant_id", "campaign_id", "rewarded_at", "id"],
    )
    op.create_index(
        op.f("ix_rewards_tenant_id_rewarded_at_id"), "rewards", ["tenant_id", "rewarded_at", "id"]
    )


def _voucher_indexes() -> None:
    # The conditions are the ones tables.py names (RESERVED_ONLY, HAS_SUBSCRIBER, ...),
    # written out: a migration does not change when the code does.
    op.drop_index(op.f("ix_vouchers_status_reserved_until"), table_name="vouchers")
    partial = {
        "ix_vouchers_reserved_until": (["tenant_id", "reserved_until"], "status = 'reserved'"),
        "ix_vouchers_by_subscriber": (
            ["tenant_id", "subscriber_id", "serial"],
            "subscriber_id IS NOT NULL",
        ),
        "ix_vouchers_by_later_status": (
            ["tenant_id", "status", "serial"],
            "status NOT IN ('pending', 'available')",
        ),
        "ix_vouchers_unbatched_by_type": (
            ["tenant_id", "voucher_type_id", "serial"],
            "batch_id IS NULL",
        ),
    }
    for name, (columns, where) in partial.items():
        op.create_index(
            name,
            "vouchers",
            columns,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )
    op.create_index(
        op.f("ix_vouchers_tenant_id_code_last4_serial"),
        "vouchers",
        ["tenant_id", "code_last4", "serial"],
    )


def downgrade() -> None:
    for name in (
        "ix_rewards_tenant_id_rewarded_at_id",
        "ix_rewards_tenant_id_campaign_id_rewarded_at_id",
        "ix_rewards_tenant_id_subscriber_rewarded_at_id",
    ):
        op.drop_index(op.f(name), table_name="rewards")
    op.drop_index(op.f("ix_vouchers_tenant_id_code_last4_serial"), table_name="vouchers")
    for name in (
        "ix_vouchers_unbatched_by_type",
        "ix_vouchers_by_later_status",
        "ix_vouchers_by_subscriber",
        "ix_vouchers_reserved_until",
    ):
        op.drop_index(name, table_name="vouchers")
    op.create_index(
        op.f("ix_vouchers_status_reserved_until"), "vouchers", ["status", "reserved_until"]
    )
    op.drop_index(op.f("ix_edrs_tenant_id_subscriber_id"), table_name="edrs")
    op.drop_column("edrs", "subscriber")
