"""Lifecycles and voucher types: create, read, update, list."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.catalog import VoucherType, VoucherTypeSpec
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid, NotFound, refuse_nulls
from tessera.domain.ids import new_id
from tessera.domain.lifecycle import Lifecycle, LifecycleRules
from tessera.domain.paging import Page
from tessera.domain.tenants import validate_name


def _lifecycle_or_404(uow: UnitOfWork, lifecycle_id: uuid.UUID) -> Lifecycle:
    lifecycle = uow.lifecycles.get(lifecycle_id)
    if lifecycle is None:
        raise NotFound("no such lifecycle", code="lifecycle_not_found")
    return lifecycle


def _type_or_404(uow: UnitOfWork, type_id: uuid.UUID) -> VoucherType:
    voucher_type = uow.voucher_types.get(type_id)
    if voucher_type is None:
        raise NotFound("no such voucher type", code="voucher_type_not_found")
    return voucher_type


def create_lifecycle(uow: UnitOfWork, name: str, rules: LifecycleRules) -> Lifecycle:
    name = validate_name(name)
    with uow:
        if uow.lifecycles.name_taken(name):
            raise Conflict(f"a lifecycle named '{name}' already exists", code="name_taken")
        now = uow.clock()
        lifecycle = Lifecycle(id=new_id(), name=name, rules=rules, created_at=now, updated_at=now)
        uow.lifecycles.add(lifecycle)
        uow.edrs.append(
            EdrDraft(
                "lifecycle.create", "lifecycle", str(lifecycle.id), details=_rules_json(rules)
            ),
            now,
        )
        uow.commit()
    return lifecycle


def update_lifecycle(
    uow: UnitOfWork, lifecycle_id: uuid.UUID, changes: dict[str, Any]
) -> Lifecycle:
    """Changes apply to every voucher of this lifecycle, past and future."""
    with uow:
        refuse_nulls(changes, frozenset({"expires_at", "validity_days"}))
        current = _lifecycle_or_404(uow, lifecycle_id)
        name = validate_name(changes.pop("name", current.name))
        if uow.lifecycles.name_taken(name, except_id=lifecycle_id):
            raise Conflict(f"a lifecycle named '{name}' already exists", code="name_taken")
        rules = dataclasses.replace(current.rules, **changes)
        updated = dataclasses.replace(current, name=name, rules=rules, updated_at=uow.clock())
        uow.lifecycles.update(updated)
        uow.edrs.append(
            EdrDraft(
                "lifecycle.update", "lifecycle", str(lifecycle_id), details=_rules_json(rules)
            ),
            updated.updated_at,
        )
        uow.commit()
    return updated


def get_lifecycle(uow: UnitOfWork, lifecycle_id: uuid.UUID) -> Lifecycle:
    with uow:
        return _lifecycle_or_404(uow, lifecycle_id)


def list_lifecycles(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[Lifecycle]:
    with uow:
        return uow.lifecycles.list(cursor, limit)


def create_voucher_type(uow: UnitOfWork, spec: VoucherTypeSpec) -> VoucherType:
    spec = dataclasses.replace(spec, name=validate_name(spec.name)).validated()
    with uow:
        _check_references(uow, spec)
        now = uow.clock()
        voucher_type = VoucherType(id=new_id(), spec=spec, created_at=now, updated_at=now)
        uow.voucher_types.add(voucher_type)
        uow.edrs.append(_type_edr("voucher_type.create", voucher_type), now)
        uow.commit()
    return voucher_type


def update_voucher_type(
    uow: UnitOfWork, type_id: uuid.UUID, changes: dict[str, Any]
) -> VoucherType:
    """Types are not versioned: the new values are what every later redemption grants."""
    with uow:
        refuse_nulls(
            changes, frozenset({"fulfilment_offer", "fulfilment_parameters", "purchase_value"})
        )
        current = _type_or_404(uow, type_id)
        spec = dataclasses.replace(current.spec, **changes)
        spec = dataclasses.replace(spec, name=validate_name(spec.name)).validated()
        _check_references(uow, spec, except_id=type_id)
        updated = dataclasses.replace(current, spec=spec, updated_at=uow.clock())
        uow.voucher_types.update(updated)
        uow.edrs.append(_type_edr("voucher_type.update", updated), updated.updated_at)
        uow.commit()
    return updated


def get_voucher_type(uow: UnitOfWork, type_id: uuid.UUID) -> VoucherType:
    with uow:
        return _type_or_404(uow, type_id)


def list_voucher_types(
    uow: UnitOfWork, cursor: str | None, limit: int, active: bool | None = None
) -> Page[VoucherType]:
    with uow:
        return uow.voucher_types.list(cursor, limit, active)


def _check_references(
    uow: UnitOfWork, spec: VoucherTypeSpec, except_id: uuid.UUID | None = None
) -> None:
    if uow.lifecycles.get(spec.lifecycle_id) is None:
        raise Invalid("lifecycle_id", "no lifecycle with this id", code="lifecycle_unknown")
    if uow.voucher_types.name_taken(spec.name, except_id=except_id):
        raise Conflict(f"a voucher type named '{spec.name}' already exists", code="name_taken")


def _rules_json(rules: LifecycleRules) -> dict[str, Any]:
    values = dataclasses.asdict(rules)
    values["validity_kind"] = rules.validity_kind.value
    if rules.expires_at is not None:
        values["expires_at"] = rules.expires_at.isoformat()
    return values


def _type_edr(operation: str, voucher_type: VoucherType) -> EdrDraft:
    spec = voucher_type.spec
    return EdrDraft(
        operation,
        "voucher_type",
        str(voucher_type.id),
        amount_minor=spec.cost_minor,
        currency=spec.currency,
        details={
            "name": spec.name,
            "active": spec.active,
            "lifecycle_id": str(spec.lifecycle_id),
            "buckets": [dataclasses.asdict(b) for b in spec.buckets],
            "fulfilment_offer": spec.fulfilment_offer,
            "purchase_value": dataclasses.asdict(spec.purchase_value)
            if spec.purchase_value
            else None,
        },
    )
