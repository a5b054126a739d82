"""The revenue ledger's moves, filled from the revenue.* EDRs by a trigger (issue 16 item 1)

Revision ID: 0019
Revises: 0022
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tessera.adapters.db.types import UTCDateTime

revision = "0019"
down_revision = "0022"
branch_labels = None
depends_on = None

# The EDR carries every field (domain/revenue.py): effective_at in a fixed-width ISO form.
# SQLite keeps times as 'YYYY-MM-DD HH:MM:SS.ffffff' and UUIDs as 32 hex digits.
SQLITE = """
CREATE TRIGGER edrs_revenue_movement AFTER INSERT ON edrs
WHEN NEW.operation LIKE 'revenue.%'
BEGIN
    INSERT INTO revenue_movements (edr_id, tenant_id, effective_at, movement, amount_minor,
                                   currency, voucher_type_id, batch_id, vouchers)
    VALUES (NEW.id, NEW.tenant_id,
            replace(substr(json_extract(NEW.details, '$.effective_at'), 1, 26), 'T', ' '),
            substr(NEW.operation, 9), NEW.amount_minor, NEW.currency,
            replace(json_extract(NEW.details, '$.voucher_type_id'), '-', ''),
            replace(json_extract(NEW.details, '$.batch_id'), '-', ''),
            json_extract(NEW.details, '$.vouchers'));
END
"""

POSTGRES = """
CREATE FUNCTION edrs_revenue_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revenue_movements (edr_id, tenant_id, effective_at, movement, amount_minor,
                                   currency, voucher_type_id, batch_id, vouchers)
    VALUES (NEW.id, NEW.tenant_id, (NEW.details->>'effective_at')::timestamptz,
            substr(NEW.operation, 9), NEW.amount_minor, NEW.currency,
            (NEW.details->>'voucher_type_id')::uuid, (NEW.details->>'batch_id')::uuid,
            (NEW.details->>'vouchers')::bigint);
    RETURN NULL;
END $$;
CREATE TRIGGER edrs_revenue_movement AFTER INSERT ON edrs
FOR EACH ROW WHEN (NEW.operation LIKE 'revenue.%') EXECUTE FUNCTION edrs_revenue_movement();
"""


def upgrade() -> None:
    op.create_table(
        "revenue_movements",
        sa.Column("edr_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("effective_at", UTCDateTime(), nullable=False),
        sa.Column("movement", sa.String(length=24), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("voucher_type_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("vouchers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("edr_id", name=op.f("pk_revenue_movements")),
    )
    op.create_index(
        op.f("ix_revenue_movements_tenant_id_effective_at"),
        "revenue_movements",
        ["tenant_id", "effective_at"],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES)
    else:
        op.execute(SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS edrs_revenue_movement ON edrs")
        op.execute("DROP FUNCTION IF EXISTS edrs_revenue_movement()")
    else:
        op.execute("DROP TRIGGER IF EXISTS edrs_revenue_movement")
    op.drop_index(op.f("ix_revenue_movements_tenant_id_effective_at"), "revenue_movements")
    op.drop_table("revenue_movements")
