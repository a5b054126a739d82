"""Helpers for voucher tests: a lifecycle and a type in one call, vouchers issued directly."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tessera.bootstrap import Container
from tessera.domain.catalog import BucketTemplate, VoucherTypeSpec
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.domain.money import PurchaseValue
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import BarPolicy, Voucher
from tessera.services import catalog
from tessera.services.issuing import issue_voucher
from tessera.services.redemption import Request, Target

POLICY = BarPolicy(threshold=5, window=timedelta(minutes=15), period=timedelta(minutes=30))


def make_lifecycle(container: Container, tenant_id: uuid.UUID, **rules: Any) -> uuid.UUID:
    values: dict[str, Any] = {
        "validity_kind": ValidityKind.FROM_ISSUE,
        "validity_days": 30,
        "grace_days": 7,
        "reservation_hold_seconds": 600,
        "retention_days": 90,
    }
    values.update(rules)
    lifecycle = catalog.create_lifecycle(
        container.uow(tenant_id), f"lc-{uuid.uuid4().hex[:8]}", LifecycleRules(**values)
    )
    return lifecycle.id


def make_type(
    container: Container,
    tenant_id: uuid.UUID,
    *,
    buckets: tuple[BucketTemplate, ...] = (BucketTemplate("data_mb", 500, 30),),
    lifecycle_id: uuid.UUID | None = None,
    offer: str | None = None,
    cost: int = 500,
    purchase_value: PurchaseValue | None = None,
    **rules: Any,
) -> uuid.UUID:
    """A type granting ``buckets``, or worth ``purchase_value`` (then no buckets), in EUR."""
    lifecycle_id = lifecycle_id or make_lifecycle(container, tenant_id, **rules)
    spec = VoucherTypeSpec(
        name=f"type-{uuid.uuid4().hex[:8]}",
        cost_minor=cost,
        currency="EUR",
        lifecycle_id=lifecycle_id,
        buckets=() if purchase_value else buckets,
        fulfilment_offer=offer,
        purchase_value=purchase_value,
    )
    return catalog.create_voucher_type(container.uow(tenant_id), spec).id


def issue(
    container: Container,
    tenant_id: uuid.UUID,
    type_id: uuid.UUID,
    status: VoucherStatus = VoucherStatus.AVAILABLE,
) -> tuple[Voucher, str]:
    uow = container.uow(tenant_id)
    with uow:
        voucher, code = issue_voucher(uow, type_id, container.code_secret, status=status)
        uow.commit()
    return voucher, code


def by_code(code: str, subscriber: str | None = None, **kw: Any) -> Request:
    return Request(Target(code=code), subscriber=subscriber, **kw)


def by_serial(serial: int, subscriber: str | None = None, **kw: Any) -> Request:
    return Request(Target(serial=serial), subscriber=subscriber, **kw)


def prepare(
    container: Container, tenant_id: uuid.UUID, type_id: uuid.UUID, count: int
) -> list[str]:
    """``count`` available vouchers inserted in bulk (no EDRs): fixtures for races."""
    from tessera.domain.code_hash import code_hash
    from tessera.domain.codes import generate_codes, last4
    from tessera.services.issuing import DEFAULT_FORMAT

    codes = list(dict.fromkeys(generate_codes(DEFAULT_FORMAT, count + 16)))[:count]
    uow = container.uow(tenant_id)
    with uow:
        voucher_type = uow.voucher_types.get(type_id)
        assert voucher_type is not None
        first = uow.serials.reserve(count)
        now = uow.clock()
        rows = [
            {
                "serial": first + i,
                "code_hash": code_hash(container.code_secret, code),
                "code_last4": last4(code),
                "voucher_type_id": type_id,
                "lifecycle_id": voucher_type.spec.lifecycle_id,
                "status": "available",
                "issued_at": now,
                "activated_at": now,
                "status_changed_at": now,
            }
            for i, code in enumerate(codes)
        ]
        for start in range(0, count, 5000):
            uow.vouchers.add_many(rows[start : start + 5000])
        uow.commit()
    return codes
