"""A host's brands: their tenant rows, their first admin key and the group's counts.

Every statement goes through ``GroupScoped`` (``base.py``): it binds the host, and reaches a
brand only when that brand's ``host_id`` is the host."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import GroupScoped, TenantScoped
from tessera.adapters.db.repositories.dashboard import REDEMPTIONS
from tessera.adapters.db.repositories.edrs import draft_columns
from tessera.adapters.db.repositories.tenants import _tenant
from tessera.domain.edr import EdrDraft
from tessera.domain.paging import Page
from tessera.domain.tenants import ApiKey, Tenant

tn = t.tenants


@dataclass(frozen=True, slots=True)
class BrandCounts:
    """What a host sees of one brand: counts, never the records counted."""

    brand_id: uuid.UUID
    name: str
    suspended: bool
    vouchers: int
    vouchers_used: int
    redemptions: int  # uses at the brand's points of sale (marketplace codes included)


class BrandRepository(GroupScoped):
    def host(self) -> Tenant:
        """The tenant this repository acts for (a host, or a brand that may host none)."""
        row = self.conn.execute(sa.select(tn).where(tn.c.id == self.host_id)).mappings().one()
        return _tenant(row)

    def add(self, brand: Tenant) -> bool:
        """False when the name is taken (tenant names are unique across the store)."""
        stmt = sa.insert(tn).values(
            id=brand.id, name=brand.name, created_at=brand.created_at, host_id=self.host_id
        )
        try:
            with self.conn.begin_nested():
                self.conn.execute(stmt)
        except sa.exc.IntegrityError:
            return False
        return True

    def get(self, brand_id: uuid.UUID) -> Tenant | None:
        row = self.conn.execute(sa.select(tn).where(self._my_brand(brand_id))).mappings().first()
        return None if row is None else _tenant(row)

    def page(self, cursor: str | None, limit: int) -> Page[Tenant]:
        after = TenantScoped._after(cursor, uuid.UUID)
        stmt = sa.select(tn).where(self._my_brands())
        if after is not None:
            stmt = stmt.where(tn.c.id > after)
        rows = self.conn.execute(stmt.order_by(tn.c.id).limit(limit + 1)).mappings().all()
        return TenantScoped._paged(rows, limit, _tenant, lambda row: str(row["id"]))

    def set_suspended(self, brand_id: uuid.UUID, at: datetime | None) -> bool:
        """Suspend (``at``) or resume (None); False when it already was so, or is no brand of
        this host. One conditional update: two hosts' admins acting at once change it once."""
        already = tn.c.suspended_at.is_(None) if at is None else tn.c.suspended_at.is_not(None)
        stmt = sa.update(tn).where(self._my_brand(brand_id), sa.not_(already))
        return self.conn.execute(stmt.values(suspended_at=at)).rowcount == 1

    def add_key(self, brand_id: uuid.UUID, key: ApiKey, key_hash: str, record: EdrDraft) -> bool:
        """The brand's admin key and its ``key.create`` record in the brand's own EDRs, each
        written only if the brand is this host's."""
        written = self._insert_for_brand(
            t.api_keys,
            brand_id,
            id=key.id,
            name=key.name,
            role=key.role.value,
            key_hash=key_hash,
            display_prefix=key.display_prefix,
            created_at=key.created_at,
        )
        if written:
            self._insert_for_brand(
                t.edrs, brand_id, occurred_at=key.created_at, **draft_columns(record)
            )
        return written

    def counts(self) -> list[BrandCounts]:
        """Per brand of this host: its vouchers (all, used) and its redemptions."""
        v, e = t.vouchers.c, t.edrs.c
        vouchers = (
            sa.select(
                v.tenant_id,
                sa.func.count().label("vouchers"),
                sa.func.count().filter(v.status == "used").label("used"),
            )
            .where(v.tenant_id.in_(self._my_brand_ids()))
            .group_by(v.tenant_id)
        )
        uses = (
            sa.select(e.tenant_id, sa.func.count().label("redemptions"))
            .where(e.tenant_id.in_(self._my_brand_ids()), e.operation.in_(REDEMPTIONS))
            .group_by(e.tenant_id)
        )
        found = {row.tenant_id: (row.vouchers, row.used) for row in self.conn.execute(vouchers)}
        used = {row.tenant_id: row.redemptions for row in self.conn.execute(uses)}
        brands = self.conn.execute(
            sa.select(tn.c.id, tn.c.name, tn.c.suspended_at)
            .where(self._my_brands())
            .order_by(tn.c.id)
        )
        return [
            BrandCounts(
                b.id,
                b.name,
                b.suspended_at is not None,
                *found.get(b.id, (0, 0)),
                used.get(b.id, 0),
            )
            for b in brands
        ]
