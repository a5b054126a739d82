"""Engines for both stores. SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE``, so that
writers queue on the database lock instead of failing when a read transaction upgrades, and
the writers of one process queue on a lock of the engine first (``_WriterLock``)."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

BUSY_TIMEOUT_SECONDS = 30.0
SQLITE_CONNECTIONS = 64

# The execution option of a connection whose transaction writes nothing (a unit of work made
# with ``read_only=True``). On SQLite it begins a plain deferred transaction under
# ``PRAGMA query_only``, without the writer lock: in WAL mode it reads a snapshot beside the
# one writer instead of waiting for it (a batch chunk of 200,000 vouchers is one transaction),
# and a write it attempts fails at once instead of taking the lock unseen.
READ_ONLY = "tessera_read_only"


# PostgreSQL's "deadlock detected" and "could not serialize": the transaction was rolled back
# and nothing of it was written, so running it again is safe.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def is_transient(error: BaseException) -> bool:
    """An error the database asks to retry the transaction for."""
    return (
        isinstance(error, sa.exc.DBAPIError)
        and getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES
    )


class DatabaseBusy(sa.exc.TimeoutError):
    """The other writers of this process held SQLite's write lock for the whole busy timeout.

    Nothing was written: like SQLite's own "database is locked" (an ``SQLAlchemyError`` too,
    so whoever retries store failures retries this), and answered over HTTP as a 503.
    """


def create_engine(
    url: str, *, pool_size: int = 10, busy_timeout: float = BUSY_TIMEOUT_SECONDS
) -> Engine:
    """``hide_parameters``: a database error's message never carries the statement's values
    (a request's body, on PostgreSQL), so logging one cannot leak them."""
    if url.startswith("sqlite"):
        # A connection per thread that may want one (the server's 40 request threads, the
        # background work): with SQLAlchemy's default of 5 + 10, 32 threads distributing
        # codes from a list of 1,000,000 left the others waiting for a connection, not for
        # the database, until the pool's 30 s timeout (``bench/lists.py --store sqlite``).
        # A SQLite connection is a file handle; the writers still queue on ``_WriterLock``.
        in_memory = sa.engine.make_url(url).database in (None, "", ":memory:")
        engine = sa.create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            hide_parameters=True,
            # an in-memory database is one connection's (SQLAlchemy's singleton pool)
            **({} if in_memory else {"pool_size": SQLITE_CONNECTIONS, "max_overflow": 0}),
        )
        _configure_sqlite(engine, busy_timeout)
        return engine
    # No pre-ping: it costs a round trip on every checkout. A connection that the server
    # dropped fails one request, and SQLAlchemy then replaces every connection that was
    # opened before the failure.
    # No overflow: a process holds at most ``pool_size`` connections here (and as many more
    # in the HTTP workers' quick-redemption pool), so an operator can size max_connections.
    # Over it, a request waits for a connection instead of opening one the server refuses.
    return sa.create_engine(url, pool_size=pool_size, max_overflow=0, hide_parameters=True)


class _WriterLock:
    """Held by one DBAPI connection from before its ``BEGIN IMMEDIATE`` until its ``COMMIT``
    or ``ROLLBACK`` has ended SQLite's transaction: the writers of one process wait here.

    Why: every SQLite transaction here but a read-only one (``READ_ONLY``) is a writer, and
    a writer that finds SQLite's lock taken waits in SQLite's busy handler, which sleeps and
    retries with growing sleeps (1, 2, 5, 10, ... 100 ms), so the writers that came later,
    still in short sleeps, get in first, again and again. Measured with
    ``bench/events.py --store sqlite --workers 1``
    (four clients, one process), the slowest batch request took 2.3-2.5 s of a 2.7-3.2 s
    run: one client waited while the three others went through again and again. Waiting on
    this ``threading.Lock`` instead, the slowest took 0.64-0.79 s, about four clients' turns.
    It is not first-come-first-served (the thread that releases it may take it again before
    a woken waiter runs), but that starved no one in these runs, and a queue handing the
    lock to its longest waiter measured no better there (0.74-0.86 s, fewer events/s).

    Other processes on the same file (several workers) still meet at SQLite's own lock and
    busy handler, as unfairly as before: this lock cannot see them.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._holder: object | None = None  # set and cleared only by whoever has the lock

    def acquire(self, owner: object) -> None:
        if not self._lock.acquire(timeout=self._timeout):
            raise DatabaseBusy(
                f"the database stayed busy with other writers for {self._timeout:g} s; "
                "nothing was written, try again"
            )
        self._holder = owner

    def release(self, owner: object | None) -> None:
        """Does nothing unless ``owner`` holds the lock, so every way out may call it."""
        if owner is not None and self._holder is owner:
            self._holder = None
            self._lock.release()


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    writers = _WriterLock(busy_timeout)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN, COMMIT and ROLLBACK ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    # SQLAlchemy's commit and rollback events come before its own COMMIT and ROLLBACK, so
    # these statements are sent here, before the lock is released (the DBAPI's commit() and
    # rollback() then find no transaction and do nothing): released earlier, the next writer's
    # BEGIN IMMEDIATE would meet SQLite's lock still taken and sleep in the busy handler.
    # Savepoints have events of their own and leave the lock alone.
    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.connection.info[READ_ONLY] = True  # the pooled connection's own record
            connection.exec_driver_sql("PRAGMA query_only = ON")
            connection.exec_driver_sql("BEGIN")
            return
        owner = connection.connection.dbapi_connection
        writers.acquire(owner)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.release(owner)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(connection: sa.Connection) -> None:
        owner = connection.connection.dbapi_connection
        try:
            if owner is not None and owner.in_transaction:  # as sqlite3's commit() checks
                connection.exec_driver_sql("COMMIT")
        finally:
            writers.release(owner)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: sa.Connection) -> None:
        if connection.invalidated:
            return  # its DBAPI connection is closed, and was released below when it was
        owner = connection.connection.dbapi_connection
        try:
            if owner is not None and owner.in_transaction:  # SQLite may have rolled back
                connection.exec_driver_sql("ROLLBACK")
        finally:
            writers.release(owner)

    # A connection invalidated mid-transaction, or checked in without ending its transaction
    # (a Connection dropped without close()), no longer holds SQLite's lock either.
    @event.listens_for(engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exception: Any) -> None:
        writers.release(dbapi_connection)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        writers.release(dbapi_connection)
        # However its transaction ended (or did not), the pooled connection writes again
        # for its next user.
        if record.info.pop(READ_ONLY, False) and dbapi_connection is not None:
            dbapi_connection.execute("PRAGMA query_only = OFF")
