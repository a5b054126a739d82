"""Lifecycles and voucher types through the service layer, on each store."""

import dataclasses
from datetime import UTC, datetime

import pytest

from tessera.domain.catalog import BucketTemplate, VoucherTypeSpec
from tessera.domain.errors import Conflict, Invalid, NotFound
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.services import catalog

THIRTY_DAYS = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=30, grace_days=7)


def test_lifecycle_round_trips_with_every_rule(container, tenant):
    uow = lambda: container.uow(tenant[0])
    fixed = LifecycleRules(
        ValidityKind.FIXED_DATE,
        expires_at=datetime(2027, 1, 31, 23, 59, tzinfo=UTC),
        grace_days=3,
        reservation_hold_seconds=60,
        retention_days=90,
    )
    created = catalog.create_lifecycle(uow(), "January promo", fixed)
    assert catalog.get_lifecycle(uow(), created.id) == created


def test_lifecycle_update_changes_rules_and_keeps_identity(container, tenant):
    uow = lambda: container.uow(tenant[0])
    created = catalog.create_lifecycle(uow(), "30 days", THIRTY_DAYS)
    updated = catalog.update_lifecycle(uow(), created.id, {"grace_days": 14, "name": "30 days+"})
    assert catalog.get_lifecycle(uow(), created.id).rules.grace_days == 14
    assert updated.name == "30 days+" and updated.created_at == created.created_at


def test_switching_validity_kind_requires_consistent_fields(container, tenant):
    uow = lambda: container.uow(tenant[0])
    created = catalog.create_lifecycle(uow(), "30 days", THIRTY_DAYS)
    with pytest.raises(Invalid) as caught:
        catalog.update_lifecycle(uow(), created.id, {"validity_kind": ValidityKind.FIXED_DATE})
    assert caught.value.field == "expires_at"
    assert catalog.get_lifecycle(uow(), created.id).rules == THIRTY_DAYS


def test_lifecycle_names_are_unique_per_tenant_only(container, make_tenant):
    a, b = make_tenant(), make_tenant()
    catalog.create_lifecycle(container.uow(a[0]), "standard", THIRTY_DAYS)
    catalog.create_lifecycle(container.uow(b[0]), "standard", THIRTY_DAYS)
    with pytest.raises(Conflict):
        catalog.create_lifecycle(container.uow(a[0]), "standard", THIRTY_DAYS)


def test_voucher_type_round_trips_and_updates(container, tenant):
    uow = lambda: container.uow(tenant[0])
    lifecycle = catalog.create_lifecycle(uow(), "30 days", THIRTY_DAYS)
    spec = VoucherTypeSpec(
        name="Data 1GB",
        cost_minor=0,
        currency="KES",
        lifecycle_id=lifecycle.id,
        buckets=(BucketTemplate("data_mb", 1024, 30), BucketTemplate("sms", 100)),
    )
    created = catalog.create_voucher_type(uow(), spec)
    assert catalog.get_voucher_type(uow(), created.id).spec == spec
    updated = catalog.update_voucher_type(uow(), created.id, {"active": False, "cost_minor": 250})
    assert updated.spec == dataclasses.replace(spec, active=False, cost_minor=250)
    assert [t.id for t in catalog.list_voucher_types(uow(), None, 10, active=False).items] == [
        created.id
    ]


def test_voucher_type_with_another_tenants_lifecycle_is_refused(container, make_tenant):
    a, b = make_tenant(), make_tenant()
    foreign = catalog.create_lifecycle(container.uow(a[0]), "30 days", THIRTY_DAYS)
    spec = VoucherTypeSpec("x", 0, "EUR", foreign.id)
    with pytest.raises(Invalid) as caught:
        catalog.create_voucher_type(container.uow(b[0]), spec)
    assert caught.value.field == "lifecycle_id"


def test_unknown_ids_are_not_found(container, tenant):
    import uuid

    with pytest.raises(NotFound):
        catalog.get_voucher_type(container.uow(tenant[0]), uuid.uuid4())
    with pytest.raises(NotFound):
        catalog.update_lifecycle(container.uow(tenant[0]), uuid.uuid4(), {"grace_days": 1})


def test_lists_page_with_a_cursor_and_never_repeat(container, tenant):
    uow = lambda: container.uow(tenant[0])
    made = [catalog.create_lifecycle(uow(), f"lc-{i}", THIRTY_DAYS).id for i in range(7)]
    seen, cursor = [], None
    while True:
        page = catalog.list_lifecycles(uow(), cursor, 3)
        seen += [x.id for x in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == made
