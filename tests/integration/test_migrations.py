"""The Alembic history builds exactly the tables the code declares, on both stores."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tessera.adapters.db.tables import metadata


def test_migrations_match_the_declared_tables(container):
    with container.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
