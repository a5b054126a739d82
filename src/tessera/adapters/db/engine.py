"""Engines for both stores. SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE``, so that
writers queue on the database lock instead of failing when a read transaction upgrades."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine


def create_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip on every checkout. A connection that the server
    # dropped fails one request, and SQLAlchemy then replaces every connection that was
    # opened before the failure.
    # No overflow: a process holds at most ``pool_size`` connections here (and as many more
    # in the HTTP workers' quick-redemption pool), so an operator can size max_connections.
    # Over it, a request waits for a connection instead of opening one the server refuses.
    return sa.create_engine(url, pool_size=pool_size, max_overflow=0)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
