"""Shared by the benchmarks: a fresh database on either store, and the real server."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tessera.bootstrap import Container, build
from tessera.config import Settings

CODE_SECRET = "bench-code-secret"


@contextlib.contextmanager
def fresh_database(store: str) -> Iterator[str]:
    """A migrated, empty database: a temp SQLite file, or a new PostgreSQL database on the
    server of TESSERA_TEST_POSTGRES_URL (dropped afterwards)."""
    if store == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            _migrate(url)
            yield url
        return
    server = os.environ.get("TESSERA_TEST_POSTGRES_URL")
    if not server:
        sys.exit(
            "set TESSERA_TEST_POSTGRES_URL, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    name = f"tessera_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _migrate(url: str) -> None:
    container = build(Settings(database_url=url, code_secret=CODE_SECRET))
    container.migrate()
    container.close()


def container_for(url: str, pool_size: int = 10) -> Container:
    return build(Settings(database_url=url, code_secret=CODE_SECRET, db_pool_size=pool_size))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(
    url: str, workers: int = 2, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """``tessera serve`` in a subprocess, as an operator runs it (``settings``: more
    TESSERA_* variables); yields its base URL."""
    with serving(url, workers, settings) as (base, _pid):
        yield base


@contextlib.contextmanager
def serving(
    url: str, workers: int = 2, settings: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """As ``running_server``, yielding the base URL and the server's process id."""
    port = free_port()
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": url,
        "TESSERA_CODE_SECRET": CODE_SECRET,
        "TESSERA_WORKERS": str(workers),
        "TESSERA_PORT": str(port),
        "TESSERA_LOG_LEVEL": "warning",
        **(settings or {}),
    }
    log_path = os.environ.get("BENCH_SERVER_LOG")  # the server's stderr, to debug a run
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "tessera.entrypoints.cli", "serve"], env=env, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not become ready")
        yield base, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Steal:
    """The share of CPU time the hypervisor gave to other machines while a run went on
    (``steal`` in /proc/stat; None off Linux). On this shared VM it moved figures by a third:
    a run is worth reading next to it."""

    def __init__(self) -> None:
        self.start = self._read()
        self.percent: float | None = None

    @staticmethod
    def _read() -> list[int] | None:
        with contextlib.suppress(OSError):
            return [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return None

    def stop(self) -> float | None:
        end = self._read()
        if self.start is None or end is None:
            return None
        spent = [b - a for a, b in zip(self.start, end, strict=True)]
        self.percent = round(100 * spent[7] / max(1, sum(spent[:8])), 1)
        return self.percent
