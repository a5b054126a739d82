"""Leases on background jobs, above tenancy: a job runs where its lease is held.

Taking and renewing are one conditional upsert each, settled by the database: the row is
inserted, or updated only when this holder has it already or its time has run out. Two
takers at once meet at the primary key (PostgreSQL: the second waits for the first to commit,
then finds the lease held; SQLite: one writer at a time), so exactly one of them gets it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tessera.adapters.db import tables as t
from tessera.adapters.db.types import UTCDateTime


class Leases:
    table = t.leases

    def __init__(self, connection: sa.Connection) -> None:
        self.conn = connection

    def take(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold ``name`` until ``until``: True when it is free, lapsed, or ours already."""
        dialect: Any = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        c = self.table.c
        insert = dialect.insert(self.table).values(name=name, holder=holder, expires_at=until)
        stmt = insert.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
            where=sa.or_(c.holder == holder, c.expires_at <= sa.literal(now, UTCDateTime)),
        ).returning(c.name)
        return self.conn.execute(stmt).first() is not None

    def renew(self, names: Iterable[str], holder: str, until: datetime) -> set[str]:
        """Extend the leases this holder still has; returns them (a lease missing from the
        answer lapsed and was taken by another holder, or was never ours). One that lapsed
        but that nobody took is still ours: no one else can have run its job meanwhile."""
        wanted = sorted(names)
        if not wanted:
            return set()
        c = self.table.c
        stmt = (
            sa.update(self.table)
            .where(c.name.in_(wanted), c.holder == holder)
            .values(expires_at=until)
            .returning(c.name)
        )
        return set(self.conn.execute(stmt).scalars())

    def release(self, names: Iterable[str], holder: str) -> None:
        """Let another holder take these at once (a clean stop), if they are still ours.
        The rows go, rather than their time being set to now: a host whose clock runs ahead
        would otherwise leave its released leases looking held to the others."""
        wanted = sorted(names)
        if wanted:
            c = self.table.c
            self.conn.execute(sa.delete(self.table).where(c.name.in_(wanted), c.holder == holder))

    def holders(self) -> dict[str, tuple[str, datetime]]:
        """name -> (holder, expires_at), for operators and tests."""
        c = self.table.c
        rows = self.conn.execute(sa.select(c.name, c.holder, c.expires_at))
        return {row.name: (row.holder, row.expires_at) for row in rows}
