"""Marketplace voucher types: the brands of its group a type's owner shares it with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped


@dataclass(frozen=True, slots=True)
class Share:
    voucher_type_id: uuid.UUID
    brand_id: uuid.UUID
    created_at: datetime


class VoucherTypeShareRepository(TenantScoped):
    """The owner's side: only the owner's shares are read or changed here."""

    table = t.voucher_type_shares

    def in_group(self, brand_id: uuid.UUID) -> bool:
        """Whether ``brand_id`` is another tenant of this tenant's group (host or brand)."""
        stmt = sa.select(t.tenants.c.id).where(self._same_group(brand_id))
        return self.conn.execute(stmt).first() is not None

    def add(self, type_id: uuid.UUID, brand_id: uuid.UUID, at: datetime) -> bool:
        """False when it was already shared with that brand."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    self._insert(voucher_type_id=type_id, brand_id=brand_id, created_at=at)
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def remove(self, type_id: uuid.UUID, brand_id: uuid.UUID) -> bool:
        c = self.table.c
        stmt = self._delete(c.voucher_type_id == type_id, c.brand_id == brand_id)
        return self.conn.execute(stmt).rowcount == 1

    def of_type(self, type_id: uuid.UUID) -> list[Share]:
        c = self.table.c
        stmt = self._select().where(c.voucher_type_id == type_id).order_by(c.brand_id)
        return [
            Share(row.voucher_type_id, row.brand_id, row.created_at)
            for row in self.conn.execute(stmt)
        ]
