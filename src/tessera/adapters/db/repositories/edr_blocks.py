"""Sealed blocks of EDRs (see domain/edr_seal.py), and how far the sealer may go.

A block may only cover ids whose transactions are over: on PostgreSQL ids are drawn from a
sequence when a row is inserted, not when its transaction commits, so a slow transaction can
commit id 100 after id 101 is visible. ``EdrHorizon.settled`` reads the highest id and then
waits until every transaction that was writing EDRs at that moment has ended: after that no
id at or below it can appear any more. SQLite has one writer at a time, so what a reader
sees is settled already.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.edr_seal import Block


def _block(row: sa.RowMapping) -> Block:
    return Block(
        tenant_id=row["tenant_id"],
        seq=row["seq"],
        after_id=row["after_id"],
        last_id=row["last_id"],
        entries=bytes(row["entries"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        sealed_at=row["sealed_at"],
    )


class EdrBlockRepository(TenantScoped):
    table = t.edr_blocks

    def last(self) -> Block | None:
        row = (
            self.conn.execute(self._select().order_by(self.table.c.seq.desc()).limit(1))
            .mappings()
            .first()
        )
        return None if row is None else _block(row)

    def add(self, block: Block) -> None:
        """Inserts the block; a second sealer with the same block meets the primary key."""
        self.conn.execute(
            self._insert(
                seq=block.seq,
                after_id=block.after_id,
                last_id=block.last_id,
                entries=block.entries,
                prev_hash=block.prev_hash,
                hash=block.hash,
                sealed_at=block.sealed_at,
            )
        )

    def stream(self, chunk: int = 100) -> Iterator[Block]:
        """Every block in chain order, a chunk at a time."""
        after = 0
        c = self.table.c
        while True:
            rows = (
                self.conn.execute(self._select().where(c.seq > after).order_by(c.seq).limit(chunk))
                .mappings()
                .all()
            )
            if not rows:
                return
            for row in rows:
                yield _block(row)
            after = rows[-1]["seq"]


_WRITING_EDRS = """
SELECT virtualtransaction FROM pg_locks
WHERE locktype = 'relation' AND relation = 'edrs'::regclass AND mode = 'RowExclusiveLock'
  AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class EdrHorizon:
    """Above tenancy: the highest EDR id no transaction can still add to."""

    def __init__(self, connection: sa.Connection) -> None:
        self.conn = connection

    def settled(self, wait_seconds: float = 5.0) -> int | None:
        """The highest id now visible, once it is settled; None if transactions that were
        writing EDRs when it was read still run after ``wait_seconds`` (try later).

        An inserting transaction holds its ROW EXCLUSIVE lock on ``edrs`` from before it
        draws an id until it ends, so the transactions to wait for are those holding it just
        after the highest id was read (in this database only: a long transaction elsewhere on
        the server does not hold the seal back)."""
        highest = self.conn.execute(sa.select(sa.func.max(t.edrs.c.id))).scalar()
        if self.conn.dialect.name != "postgresql" or highest is None:
            return highest or 0
        writing = set(self.conn.execute(sa.text(_WRITING_EDRS)).scalars())
        deadline = time.monotonic() + wait_seconds
        pause = 0.001
        while writing:
            writing &= set(self.conn.execute(sa.text(_WRITING_EDRS)).scalars())
            if not writing:
                break
            if time.monotonic() >= deadline:
                return None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        return int(highest)
