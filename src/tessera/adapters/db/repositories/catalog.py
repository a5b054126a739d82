"""Lifecycles and voucher types."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.catalog import BucketTemplate, VoucherType, VoucherTypeSpec
from tessera.domain.lifecycle import Lifecycle, LifecycleRules, ValidityKind
from tessera.domain.money import PurchaseValue, ValueKind
from tessera.domain.paging import Page


def _lifecycle(row: sa.RowMapping) -> Lifecycle:
    return Lifecycle(
        id=row["id"],
        name=row["name"],
        rules=LifecycleRules(
            validity_kind=ValidityKind(row["validity_kind"]),
            expires_at=row["expires_at"],
            validity_days=row["validity_days"],
            grace_days=row["grace_days"],
            reservation_hold_seconds=row["reservation_hold_seconds"],
            retention_days=row["retention_days"],
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _rules_columns(rules: LifecycleRules) -> dict[str, object]:
    return {
        "validity_kind": rules.validity_kind.value,
        "expires_at": rules.expires_at,
        "validity_days": rules.validity_days,
        "grace_days": rules.grace_days,
        "reservation_hold_seconds": rules.reservation_hold_seconds,
        "retention_days": rules.retention_days,
    }


class LifecycleRepository(TenantScoped):
    table = t.lifecycles

    def add(self, lifecycle: Lifecycle) -> None:
        self.conn.execute(
            self._insert(
                id=lifecycle.id,
                name=lifecycle.name,
                created_at=lifecycle.created_at,
                updated_at=lifecycle.updated_at,
                **_rules_columns(lifecycle.rules),
            )
        )

    def get(self, lifecycle_id: uuid.UUID) -> Lifecycle | None:
        stmt = self._select().where(self.table.c.id == lifecycle_id)
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _lifecycle(row)

    def name_taken(self, name: str, except_id: uuid.UUID | None = None) -> bool:
        stmt = self._select(self.table.c.id).where(self.table.c.name == name)
        if except_id is not None:
            stmt = stmt.where(self.table.c.id != except_id)
        return self.conn.execute(stmt).first() is not None

    def update(self, lifecycle: Lifecycle) -> None:
        self.conn.execute(
            self._update(self.table.c.id == lifecycle.id).values(
                name=lifecycle.name,
                updated_at=lifecycle.updated_at,
                **_rules_columns(lifecycle.rules),
            )
        )

    def list(self, cursor: str | None, limit: int) -> Page[Lifecycle]:
        return self._page(self._select(), self.table.c.id, cursor, limit, _lifecycle)


def _voucher_type(row: sa.RowMapping) -> VoucherType:
    return VoucherType(
        id=row["id"],
        spec=VoucherTypeSpec(
            name=row["name"],
            cost_minor=row["cost_minor"],
            currency=row["currency"],
            lifecycle_id=row["lifecycle_id"],
            buckets=tuple(BucketTemplate(**bucket) for bucket in row["buckets"]),
            active=row["active"],
            fulfilment_offer=row["fulfilment_offer"],
            fulfilment_parameters=tuple(row["fulfilment_parameters"] or ()),
            purchase_value=_purchase_value(row.get("purchase_value")),
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _spec_columns(spec: VoucherTypeSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "cost_minor": spec.cost_minor,
        "currency": spec.currency,
        "lifecycle_id": spec.lifecycle_id,
        "buckets": [
            {"balance_type": b.balance_type, "amount": b.amount, "validity_days": b.validity_days}
            for b in spec.buckets
        ],
        "active": spec.active,
        "fulfilment_offer": spec.fulfilment_offer,
        "fulfilment_parameters": list(spec.fulfilment_parameters) or None,
        "purchase_value": _purchase_value_json(spec.purchase_value),
    }


def _purchase_value(document: dict[str, Any] | None) -> PurchaseValue | None:
    if document is None:
        return None
    return PurchaseValue(**{**document, "kind": ValueKind(document["kind"])})


def _purchase_value_json(value: PurchaseValue | None) -> dict[str, Any] | None:
    if value is None:
        return None
    found = {"kind": value.kind.value, "basis_points": value.basis_points}
    found |= {"cap_minor": value.cap_minor, "amount_minor": value.amount_minor}
    return {k: v for k, v in found.items() if v is not None}


class VoucherTypeRepository(TenantScoped):
    table = t.voucher_types

    def add(self, voucher_type: VoucherType) -> None:
        self.conn.execute(
            self._insert(
                id=voucher_type.id,
                created_at=voucher_type.created_at,
                updated_at=voucher_type.updated_at,
                **_spec_columns(voucher_type.spec),
            )
        )

    def get(self, type_id: uuid.UUID) -> VoucherType | None:
        row = self.conn.execute(self._select().where(self.table.c.id == type_id)).mappings().first()
        return None if row is None else _voucher_type(row)

    def every(self) -> dict[uuid.UUID, VoucherType]:
        """Every type of the tenant (a report names its groups; a tenant has tens of types)."""
        return {
            vt.id: vt for vt in map(_voucher_type, self.conn.execute(self._select()).mappings())
        }

    def name_taken(self, name: str, except_id: uuid.UUID | None = None) -> bool:
        stmt = self._select(self.table.c.id).where(self.table.c.name == name)
        if except_id is not None:
            stmt = stmt.where(self.table.c.id != except_id)
        return self.conn.execute(stmt).first() is not None

    def update(self, voucher_type: VoucherType) -> None:
        self.conn.execute(
            self._update(self.table.c.id == voucher_type.id).values(
                updated_at=voucher_type.updated_at, **_spec_columns(voucher_type.spec)
            )
        )

    def list(self, cursor: str | None, limit: int, active: bool | None = None) -> Page[VoucherType]:
        stmt = self._select()
        if active is not None:
            stmt = stmt.where(self.table.c.active == active)
        return self._page(stmt, self.table.c.id, cursor, limit, _voucher_type)
