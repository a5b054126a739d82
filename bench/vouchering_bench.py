"""Voucher types for the benchmarks (a lifecycle and ``count`` types of varied cost)."""

from __future__ import annotations

import uuid

from tessera.bootstrap import Container
from tessera.domain.catalog import VoucherTypeSpec
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.services import catalog


def make_types(
    container: Container, tenant_id: uuid.UUID, count: int
) -> list[tuple[uuid.UUID, int]]:
    """(type id, cost) of ``count`` new types."""
    rules = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=90, grace_days=7)
    lifecycle = catalog.create_lifecycle(container.uow(tenant_id), "bench", rules)
    made = []
    for i in range(count):
        cost = 100 * (i + 1)
        spec = VoucherTypeSpec(
            name=f"type {i}", cost_minor=cost, currency="KES", lifecycle_id=lifecycle.id
        )
        made.append((catalog.create_voucher_type(container.uow(tenant_id), spec).id, cost))
    return made
