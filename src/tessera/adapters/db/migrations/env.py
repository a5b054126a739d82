"""Alembic environment: migrates the engine that ``tessera.adapters.db.migrate`` hands over."""

from __future__ import annotations

from alembic import context

from tessera.adapters.db.engine import create_engine
from tessera.adapters.db.tables import metadata

config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url") or ""
)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
