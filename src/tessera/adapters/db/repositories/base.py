"""Tenant scoping, once: every tenant-owned repository builds its statements through here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from tessera.domain.errors import Invalid
from tessera.domain.paging import Page, decode_cursor, encode_cursor

T = TypeVar("T")


class TenantScoped:
    """A repository bound to one tenant: its reads and writes cannot reach another tenant's rows.

    Another tenant's id is therefore indistinguishable from an id that does not exist.
    """

    table: sa.Table

    def __init__(self, connection: sa.Connection, tenant_id: uuid.UUID) -> None:
        self.conn = connection
        self.tenant_id = tenant_id

    def _mine(self, table: sa.Table | None = None) -> sa.ColumnElement[bool]:
        return (table if table is not None else self.table).c.tenant_id == self.tenant_id

    def _select(self, *columns: Any) -> sa.Select[Any]:
        cols = columns or (self.table,)
        return sa.select(*cols).where(self._mine())

    def _insert(self, **values: Any) -> sa.Insert:
        return sa.insert(self.table).values(tenant_id=self.tenant_id, **values)

    def _update(self, *where: sa.ColumnElement[bool]) -> sa.Update:
        return sa.update(self.table).where(self._mine(), *where)

    def _delete(self, *where: sa.ColumnElement[bool]) -> sa.Delete:
        return sa.delete(self.table).where(self._mine(), *where)

    def _in(self, column: sa.ColumnElement[Any], values: list[Any]) -> sa.ColumnElement[bool]:
        """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of
        one per value, which keeps large batches cheap to send and to parse."""
        if self.conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            return column == sa.any_(sa.bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(values)

    def _page(
        self,
        stmt: sa.Select[Any],
        key: sa.ColumnElement[Any],
        cursor: str | None,
        limit: int,
        to_item: Callable[[sa.RowMapping], T],
        parse_key: Callable[[str], Any] = uuid.UUID,
    ) -> Page[T]:
        """Keyset pagination on ``key`` (ascending): stable under inserts, no OFFSET scans."""
        if cursor is not None:
            try:
                after = parse_key(decode_cursor(cursor))
            except ValueError as exc:
                raise Invalid("cursor", "is not a cursor this API returned") from exc
            stmt = stmt.where(key > after)
        rows: Sequence[sa.RowMapping] = (
            self.conn.execute(stmt.order_by(key).limit(limit + 1)).mappings().all()
        )
        items = [to_item(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(str(rows[limit - 1][str(key.key)]))
        return Page(items=items, next_cursor=next_cursor)
