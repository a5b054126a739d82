"""Shared fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from ``TESSERA_TEST_POSTGRES_URL`` (a server URL; each test session creates
and drops its own database there, so parallel runs never meet). Without it the PostgreSQL
cases skip with the reason, unless ``TESSERA_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import settings
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from helpers import MovableClock
from tessera.bootstrap import Container, build
from tessera.config import Settings
from tessera.entrypoints.http.app import create_app
from tessera.services.tenants import create_tenant

# No per-example deadline: on a 2-core machine running two test processes a property test's
# example can take over hypothesis's 200 ms for no fault of the code (a failure then says
# DeadlineExceeded, not what rule broke). The examples and their checks stay the same.
settings.register_profile("tessera", deadline=None)
settings.load_profile("tessera")

POSTGRES_URL = os.environ.get("TESSERA_TEST_POSTGRES_URL", "")
TEST_LIST_KEY = "dGVzc2VyYS10ZXN0LWxpc3Qta2V5LTMyLWJ5dGVzLiE="  # 32 bytes, tests only
REQUIRE_POSTGRES = os.environ.get("TESSERA_REQUIRE_POSTGRES") == "1"
TEST_CODE_SECRET = SecretStr("test-code-secret-not-for-production")


def _postgres_unavailable_reason() -> str | None:
    if not POSTGRES_URL:
        return "TESSERA_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return f"PostgreSQL at TESSERA_TEST_POSTGRES_URL is not reachable: {exc.__class__.__name__}"
    return None


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    reason = _postgres_unavailable_reason()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"TESSERA_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    name = f"tessera_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    migrated = build(Settings(database_url=url))
    migrated.migrate()
    migrated.close()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once; each test copies the file instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "tessera.db"
    container = build(Settings(database_url=f"sqlite:///{path}"))
    container.migrate()
    container.close()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.postgres)
    return str(request.param)


@pytest.fixture
def database_url(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store == "postgresql":
        return str(request.getfixturevalue("postgres_database_url"))
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "tessera.db"
    shutil.copy(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def container(database_url: str, clock: MovableClock) -> Iterator[Container]:
    settings = Settings(
        database_url=database_url,
        db_pool_size=5,
        code_secret=TEST_CODE_SECRET,
        list_key=TEST_LIST_KEY,
        webhook_allowed_networks="127.0.0.0/8",  # the tests' webhook receivers are on loopback
    )
    container = build(settings, clock=clock)
    yield container
    container.close()


TenantFactory = Callable[[], tuple[uuid.UUID, str]]


@pytest.fixture
def make_tenant(container: Container) -> TenantFactory:
    """A fresh tenant per call (unique name): tests never see each other's rows."""

    def _make() -> tuple[uuid.UUID, str]:
        tenant, key = create_tenant(container.directory(), f"tenant-{uuid.uuid4().hex[:10]}")
        return tenant.id, key

    return _make


@pytest.fixture
def tenant(make_tenant: TenantFactory) -> tuple[uuid.UUID, str]:
    return make_tenant()


@pytest.fixture
def api(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """schemathesis names each operation's item ``test[METHOD /path]`` but pytest 9.2 ids it by
    the bare function name: the fuzz tests' 77 items shared one node id, and pytest-xdist
    (``make test``) ran only one of them. Each gets the id its name says."""
    for item in items:
        name, nodeid = item.name, item.nodeid
        if name.endswith("]") and "[" in name and not nodeid.endswith("]"):
            item._id = item._id.with_params(name[name.index("[") + 1 : -1])  # type: ignore[attr-defined]
