"""The migrations form one line: helpers landing in turn re-point their ``down_revision``
onto the latest head, and a second head (two migrations on one parent) fails here, before
``alembic upgrade head`` refuses to choose on a deployment."""

from alembic.config import Config
from alembic.script import ScriptDirectory

from tessera.adapters.db.migrate import MIGRATIONS


def test_the_migrations_have_exactly_one_head():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
