"""What a voucher worth money takes off a purchase (domain/money.py take_off), and which
purchase values a type may have."""

from __future__ import annotations

import pytest

from tessera.domain.errors import Invalid
from tessera.domain.money import Money, PurchaseValue, ValueKind, ValueSpent, take_off

PERCENT = ValueKind.PERCENTAGE


def test_percentage_takes_its_share_rounded_down():
    take = take_off(PurchaseValue(PERCENT, basis_points=1250), "EUR", Money(999, "EUR"), 0)
    assert (take.taken_minor, take.due_minor, take.left_minor) == (124, 875, None)


def test_percentage_with_cap_takes_at_most_the_cap():
    value = PurchaseValue(PERCENT, basis_points=2000, cap_minor=500)
    assert take_off(value, "EUR", Money(10_000, "EUR"), 0).taken_minor == 500
    assert take_off(value, "EUR", Money(1_000, "EUR"), 0).taken_minor == 200


def test_fixed_amount_is_capped_at_the_purchase():
    value = PurchaseValue(ValueKind.FIXED, amount_minor=1_000)
    assert take_off(value, "EUR", Money(2_500, "EUR"), 0).taken_minor == 1_000
    take = take_off(value, "EUR", Money(600, "EUR"), 0)
    assert (take.taken_minor, take.due_minor) == (600, 0)


def test_stored_value_takes_what_is_left_and_says_when_it_is_used_up():
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    first = take_off(value, "EUR", Money(300, "EUR"), 0)
    assert (first.taken_minor, first.spent_after, first.left_minor, first.exhausts) == (
        300, 300, 700, False,
    )  # fmt: skip
    last = take_off(value, "EUR", Money(900, "EUR"), 300)
    assert (last.taken_minor, last.due_minor, last.left_minor, last.exhausts) == (
        700, 200, 0, True,
    )  # fmt: skip
    with pytest.raises(ValueSpent):
        take_off(value, "EUR", Money(1, "EUR"), 1_000)


def test_currency_mismatch_is_refused_naming_the_field():
    value = PurchaseValue(ValueKind.FIXED, amount_minor=1_000)
    with pytest.raises(Invalid) as refused:
        take_off(value, "EUR", Money(500, "USD"), 0)
    assert refused.value.field == "purchase.currency"
    assert refused.value.code == "currency_mismatch"


def test_a_use_without_a_purchase_is_refused_naming_the_field():
    with pytest.raises(Invalid) as refused:
        take_off(PurchaseValue(PERCENT, basis_points=100), "EUR", None, 0)
    assert refused.value.field == "purchase"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (PurchaseValue(PERCENT), "purchase_value.basis_points"),
        (PurchaseValue(PERCENT, basis_points=10_001), "purchase_value.basis_points"),
        (PurchaseValue(PERCENT, basis_points=100, cap_minor=0), "purchase_value.cap_minor"),
        (PurchaseValue(PERCENT, basis_points=100, amount_minor=5), "purchase_value.amount_minor"),
        (PurchaseValue(ValueKind.FIXED), "purchase_value.amount_minor"),
        (PurchaseValue(ValueKind.FIXED, amount_minor=5, cap_minor=1), "purchase_value.cap_minor"),
        (PurchaseValue(ValueKind.STORED_VALUE, amount_minor=0), "purchase_value.amount_minor"),
    ],
)
def test_a_purchase_value_that_cannot_be_is_refused_naming_the_field(value, field):
    with pytest.raises(Invalid) as refused:
        value.validated()
    assert refused.value.field == field
