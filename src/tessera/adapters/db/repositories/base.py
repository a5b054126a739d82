"""Tenant scoping, once: every tenant-owned repository builds its statements through here."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from tessera.adapters.db import tables
from tessera.domain.errors import Invalid
from tessera.domain.paging import Page, decode_cursor, encode_cursor

T = TypeVar("T")


def shared_with(table: sa.Table, caller: Any) -> sa.ColumnElement[bool]:
    """A row of ``table`` (a voucher) whose owner shares its voucher type with ``caller``
    (a tenant id, or a bound parameter standing for one in a statement built once). The only
    way a tenant reaches another's row: a marketplace code at its point of sale."""
    s = tables.voucher_type_shares.c
    return sa.exists().where(
        s.brand_id == caller,
        s.tenant_id == table.c.tenant_id,
        s.voucher_type_id == table.c.voucher_type_id,
    )


def sharers_of(caller: Any) -> sa.Select[Any]:
    """The tenants that share some voucher type with ``caller`` (a handful at most): a
    marketplace code is looked for in each one's unique (tenant_id, code_hash) index."""
    s = tables.voucher_type_shares.c
    return sa.select(s.tenant_id).where(s.brand_id == caller).distinct()


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

    # --- marketplace voucher types: a row of another tenant, reached through a share ----

    def _shared_with_me(self, table: sa.Table) -> sa.ColumnElement[bool]:
        return shared_with(table, self.tenant_id)

    def _insert_for_sharer(self, table: sa.Table, sharer_id: uuid.UUID, **values: Any) -> bool:
        """A row of ``table`` (an EDR) in the records of a tenant that shares a voucher type
        with this one: the issuer's side of a marketplace use. ``INSERT ... SELECT`` from the
        share, so a tenant that shares nothing with this one receives nothing."""
        s = tables.voucher_type_shares
        columns = [table.c[name] for name in values]
        chosen = (
            sa.select(
                s.c.tenant_id,
                *(
                    sa.literal(v, type_=c.type)
                    for c, v in zip(columns, values.values(), strict=True)
                ),
            )
            .where(s.c.brand_id == self.tenant_id, s.c.tenant_id == sharer_id)
            .limit(1)
        )
        stmt = sa.insert(table).from_select(["tenant_id", *values], chosen)
        return self.conn.execute(stmt.returning(table.c.tenant_id)).first() is not None

    def _same_group(self, other: uuid.UUID) -> sa.ColumnElement[bool]:
        """``other`` (a tenant row's id) is in this tenant's group and is not this tenant:
        the host and its brands, seen from a host or from one of its brands."""
        tn = tables.tenants
        mine = sa.select(sa.func.coalesce(tn.c.host_id, tn.c.id)).where(tn.c.id == self.tenant_id)
        root = mine.scalar_subquery()
        return sa.and_(
            tn.c.id == other,
            tn.c.id != self.tenant_id,
            sa.or_(tn.c.id == root, tn.c.host_id == root),
        )

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
        after = self._after(cursor, parse_key)
        if after is not None:
            stmt = stmt.where(key > after)
        rows: Sequence[sa.RowMapping] = (
            self.conn.execute(stmt.order_by(key).limit(limit + 1)).mappings().all()
        )
        return self._paged(rows, limit, to_item, lambda row: str(row[str(key.key)]))

    @staticmethod
    def _after(cursor: str | None, parse_key: Callable[[str], Any]) -> Any:
        """The key a cursor points after (None: the first page)."""
        if cursor is None:
            return None
        try:
            return parse_key(decode_cursor(cursor))
        except ValueError as exc:
            raise Invalid("cursor", "is not a cursor this API returned") from exc

    @staticmethod
    def _paged(
        rows: Sequence[sa.RowMapping],
        limit: int,
        to_item: Callable[[sa.RowMapping], T],
        key_of: Callable[[sa.RowMapping], str],
    ) -> Page[T]:
        """The page of ``limit + 1`` rows read: the cursor is the key of its last item."""
        items = [to_item(row) for row in rows[:limit]]
        next_cursor = encode_cursor(key_of(rows[limit - 1])) if len(rows) > limit else None
        return Page(items=items, next_cursor=next_cursor)

    def _page_by(
        self,
        stmt: sa.Select[Any],
        keys: tuple[sa.ColumnElement[Any], ...],
        cursor: str | None,
        limit: int,
        to_item: Callable[[sa.RowMapping], T],
        parsers: tuple[Callable[[str], Any], ...],
    ) -> Page[T]:
        """Keyset pagination on several columns (a time, then an id to break its ties)."""

        def parse(text: str) -> tuple[Any, ...]:
            parts = json.loads(text)
            if not isinstance(parts, list) or len(parts) != len(parsers):
                raise ValueError("not a cursor")
            return tuple(parse(str(part)) for parse, part in zip(parsers, parts, strict=True))

        after = self._after(cursor, parse)
        if after is not None:
            bound = [sa.literal(value, type_=k.type) for k, value in zip(keys, after, strict=True)]
            stmt = stmt.where(sa.tuple_(*keys) > sa.tuple_(*bound))
        rows = self.conn.execute(stmt.order_by(*keys).limit(limit + 1)).mappings().all()

        def key_of(row: sa.RowMapping) -> str:
            return json.dumps([_text(row[str(k.key)]) for k in keys])

        return self._paged(rows, limit, to_item, key_of)


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class GroupScoped:
    """A host operator's reach into its group: the tenant rows of its own brands, and counts
    over their records. A brand is reached only where ``tenants.host_id`` is this host, so a
    brand (which hosts none) or another host's brand is indistinguishable from no brand; no
    record of a brand (subscriber, code, key) is ever read through here, only counted."""

    def __init__(self, connection: sa.Connection, host_id: uuid.UUID) -> None:
        self.conn = connection
        self.host_id = host_id

    def _my_brand(self, brand_id: uuid.UUID) -> sa.ColumnElement[bool]:
        tn = tables.tenants.c
        return sa.and_(tn.id == brand_id, tn.host_id == self.host_id)

    def _my_brands(self) -> sa.ColumnElement[bool]:
        return tables.tenants.c.host_id == self.host_id

    def _my_brand_ids(self) -> sa.Select[Any]:
        return sa.select(tables.tenants.c.id).where(self._my_brands())

    def _insert_for_brand(self, table: sa.Table, brand_id: uuid.UUID, **values: Any) -> bool:
        """A row of ``table`` for one of this host's brands (its first admin key, that key's
        record): ``INSERT ... SELECT`` from the brand's tenant row, so another tenant's id
        writes nothing. True when written."""
        columns = [table.c[name] for name in values]
        chosen = sa.select(
            tables.tenants.c.id,
            *(
                sa.literal(value, type_=col.type)
                for col, value in zip(columns, values.values(), strict=True)
            ),
        ).where(self._my_brand(brand_id))
        stmt = sa.insert(table).from_select(["tenant_id", *values], chosen)
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... SELECT.
        return self.conn.execute(stmt.returning(table.c.tenant_id)).first() is not None
