"""Shared set-up for the batch tests: a lifecycle and a voucher type to make batches of."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

from tessera.bootstrap import Container
from tessera.domain.catalog import BucketTemplate, VoucherType, VoucherTypeSpec
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.services import catalog

THIRTY_DAYS = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=30)


def make_voucher_type(
    container: Container,
    tenant_id: uuid.UUID,
    *,
    active: bool = True,
    rules: LifecycleRules = THIRTY_DAYS,
    name: str | None = None,
) -> VoucherType:
    uow = lambda: container.uow(tenant_id)
    lifecycle = catalog.create_lifecycle(uow(), f"lc-{uuid.uuid4().hex[:8]}", rules)
    spec = VoucherTypeSpec(
        name=name or f"Data 1GB {uuid.uuid4().hex[:6]}",
        cost_minor=250,
        currency="KES",
        lifecycle_id=lifecycle.id,
        buckets=(BucketTemplate("data_mb", 1024, 30),),
        active=active,
    )
    return catalog.create_voucher_type(uow(), spec)


def read_print_file(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
