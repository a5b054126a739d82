import uuid

import pytest

from tessera.domain.catalog import BucketTemplate, VoucherTypeSpec
from tessera.domain.errors import Invalid
from tessera.domain.roles import Permission, Role, allows

LIFECYCLE = uuid.uuid4()


def spec(**overrides):
    values = {"name": "1 GB", "cost_minor": 500, "currency": "EUR", "lifecycle_id": LIFECYCLE}
    return VoucherTypeSpec(**{**values, **overrides})


def test_a_free_voucher_type_with_no_buckets_is_valid():
    assert spec(cost_minor=0, buckets=()).validated().cost_minor == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "  "}, "name"),
        ({"cost_minor": -1}, "cost_minor"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"buckets": (BucketTemplate("data_mb", 0),)}, "buckets[0].amount"),
        (
            {"buckets": (BucketTemplate("data_mb", 5), BucketTemplate("Data MB", 5))},
            "buckets[1].balance_type",
        ),
        ({"buckets": (BucketTemplate("sms", 5, validity_days=0),)}, "buckets[0].validity_days"),
        ({"fulfilment_offer": " "}, "fulfilment_offer"),
    ],
)
def test_bad_voucher_type_is_refused_naming_the_field(overrides, field):
    with pytest.raises(Invalid) as caught:
        spec(**overrides).validated()
    assert caught.value.field == field


def test_auditor_may_only_read():
    reads = {Permission.READ, Permission.READ_WALLET, Permission.READ_LIST_REPORTS,
             Permission.READ_GROUP_REPORTS}  # fmt: skip
    assert all(allows(Role.AUDITOR, p) for p in reads)
    assert not any(allows(Role.AUDITOR, p) for p in Permission if p not in reads)


def test_only_admin_manages_keys():
    assert [r for r in Role if allows(r, Permission.MANAGE_KEYS)] == [Role.ADMIN]


def test_pos_may_sell_but_not_change_the_catalog():
    assert allows(Role.POS, Permission.POINT_OF_SALE)
    assert not allows(Role.POS, Permission.MANAGE_CATALOG)
