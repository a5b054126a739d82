"""Stored answers of state-changing calls made with an ``Idempotency-Key``.

``claim`` inserts the key row at the start of the call's transaction. A concurrent duplicate
then waits on the unique key (PostgreSQL) or the database lock (SQLite) until the first call
commits, and finds its stored answer; if the first rolls back, the duplicate proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    fingerprint: str
    status_code: int
    response: Any


class IdempotencyRepository(TenantScoped):
    table = t.idempotency_keys

    def claim(self, key: str, fingerprint: str, now: datetime) -> StoredAnswer | None:
        """Claim ``key`` for this call (None), or return the answer stored by the first one."""
        dialect: Any = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        c = self.table.c
        stmt = (
            dialect.insert(self.table)
            .values(
                tenant_id=self.tenant_id,
                key=key,
                request_fingerprint=fingerprint,
                status_code=0,
                response={},
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(c.key)
        )
        if self.conn.execute(stmt).first() is not None:
            return None
        row = self.conn.execute(
            self._select(c.request_fingerprint, c.status_code, c.response).where(c.key == key)
        ).first()
        assert row is not None  # the conflicting row committed before we could see it
        return StoredAnswer(row.request_fingerprint, row.status_code, row.response)

    def store(self, key: str, status_code: int, response: Any) -> None:
        c = self.table.c
        self.conn.execute(
            self._update(c.key == key).values(status_code=status_code, response=response)
        )

    def forget_before(self, cutoff: datetime) -> int:
        return self.conn.execute(self._delete(self.table.c.created_at < cutoff)).rowcount
