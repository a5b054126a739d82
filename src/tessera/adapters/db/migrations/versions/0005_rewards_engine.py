"""Rewards engine: events, aggregates, campaigns, rewards

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tessera.adapters.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aggregate_definitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=60), nullable=False),
        sa.Column("function", sa.String(length=10), nullable=False),
        sa.Column("window", sa.String(length=20), nullable=False),
        sa.Column("attribute", sa.String(length=60), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_aggregate_definitions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aggregate_definitions")),
        sa.UniqueConstraint(
            "tenant_id", "name", name=op.f("uq_aggregate_definitions_tenant_id_name")
        ),
    )
    op.create_table(
        "aggregate_values",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_aggregate_values_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "subscriber", "name", "bucket", name=op.f("pk_aggregate_values")
        ),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "trigger_types",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("condition", sa.Text(), nullable=False),
        sa.Column(
            "rewards",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "caps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("starts_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("funding_partner", sa.String(length=200), nullable=True),
        sa.Column("cost_per_reward_minor", sa.BigInteger(), nullable=False),
        sa.Column("rewards_issued", sa.BigInteger(), nullable=False),
        sa.Column("budget_spent_minor", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_campaigns_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_campaigns_tenant_id_name")),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column(
            "occurred_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "received_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("tenant_id", "event_id", name=op.f("uq_events_tenant_id_event_id")),
    )
    op.create_index(op.f("ix_events_tenant_id_occurred_at"), "events", ["tenant_id", "occurred_at"])
    op.create_table(
        "campaign_subscriber_counts",
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_subscriber_counts_campaign_id_campaigns"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_campaign_subscriber_counts_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "subscriber", "period", name=op.f("pk_campaign_subscriber_counts")
        ),
    )
    op.create_table(
        "rewards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("subscriber", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("funding_partner", sa.String(length=200), nullable=True),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "rewarded_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "reversed_at", tessera.adapters.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_rewards_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rewards_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
    )
    op.create_index(op.f("ix_rewards_tenant_id_event_id"), "rewards", ["tenant_id", "event_id"])
    op.create_index(
        op.f("ix_rewards_tenant_id_funding_partner_rewarded_at"),
        "rewards",
        ["tenant_id", "funding_partner", "rewarded_at"],
    )


def downgrade() -> None:
    op.drop_table("rewards")
    op.drop_table("campaign_subscriber_counts")
    op.drop_table("events")
    op.drop_table("campaigns")
    op.drop_table("aggregate_values")
    op.drop_table("aggregate_definitions")
