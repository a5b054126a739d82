"""Serial numbers: increasing per tenant; a batch reserves a contiguous range in one step."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped


class SerialCounter(TenantScoped):
    table = t.serial_counters

    def reserve(self, count: int) -> int:
        """Reserves ``count`` serials and returns the first. The upsert takes the row lock
        (PostgreSQL) or runs under the database lock (SQLite) until commit, so ranges never
        overlap."""
        c = self.table.c
        dialect: Any = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(self.table)
            .values(tenant_id=self.tenant_id, next_serial=1 + count)
            .on_conflict_do_update(
                index_elements=["tenant_id"], set_={"next_serial": c.next_serial + count}
            )
            .returning(c.next_serial)
        )
        return int(self.conn.execute(stmt).scalar_one()) - count
