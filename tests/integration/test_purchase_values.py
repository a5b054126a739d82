"""Vouchers worth money at a point of sale, through the services on both stores: what each
kind takes off a purchase, a stored value's partial uses and their reversal, and the
purchase's currency."""

from __future__ import annotations

import pytest

from tessera.domain.errors import Invalid
from tessera.domain.money import Money, PurchaseValue, ValueKind
from tessera.domain.statuses import IllegalTransition, VoucherStatus
from tessera.services import redemption
from vouchering import POLICY, by_code, by_serial, issue, make_type

S = VoucherStatus


def _voucher(container, tid, value: PurchaseValue):
    return issue(container, tid, make_type(container, tid, purchase_value=value))


def _redeem(container, tid, code, amount, currency="EUR", subscriber="2547"):
    request = by_code(code, subscriber, purchase=Money(amount, currency))
    return redemption.redeem(container.uow(tid), container.code_secret, request, POLICY)


def _records(container, tid, serial, operation):
    uow = container.uow(tid)
    with uow:
        return uow.edrs.of_subject("voucher", str(serial), [operation])


def test_percentage_with_cap_takes_its_share_up_to_the_cap(container, tenant):
    tid, _key = tenant
    value = PurchaseValue(ValueKind.PERCENTAGE, basis_points=1500, cap_minor=500)
    voucher, code = _voucher(container, tid, value)
    outcome = _redeem(container, tid, code, 10_000)
    assert outcome.take is not None
    assert (outcome.take.taken_minor, outcome.take.due_minor) == (500, 9_500)
    assert outcome.voucher.status is S.USED
    [record] = _records(container, tid, voucher.serial, "voucher.redeem")
    assert (record.amount_minor, record.currency) == (500, "EUR")
    assert record.details["purchase_minor"] == 10_000 and record.details["taken_minor"] == 500


def test_fixed_amount_is_capped_at_the_purchase(container, tenant):
    tid, _key = tenant
    _voucher_row, code = _voucher(
        container, tid, PurchaseValue(ValueKind.FIXED, amount_minor=2_000)
    )
    outcome = _redeem(container, tid, code, 1_200)
    assert outcome.take is not None
    assert (outcome.take.taken_minor, outcome.take.due_minor) == (1_200, 0)
    assert outcome.voucher.status is S.USED


def test_stored_value_partial_uses_each_leave_a_record_until_it_is_used_up(container, tenant):
    tid, _key = tenant
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    voucher, code = _voucher(container, tid, value)
    taken, statuses = [], []
    for amount in (300, 400, 900):
        outcome = _redeem(container, tid, code, amount)
        assert outcome.take is not None
        taken.append((outcome.take.taken_minor, outcome.take.left_minor))
        statuses.append(outcome.voucher.status)
    assert taken == [(300, 700), (400, 300), (300, 0)]
    assert statuses == [S.AVAILABLE, S.AVAILABLE, S.USED]
    records = _records(container, tid, voucher.serial, "voucher.redeem")
    assert [(r.amount_minor, r.details["left_minor"]) for r in records] == [
        (300, 700), (400, 300), (300, 0),
    ]  # fmt: skip
    assert [r.status_after for r in records] == ["available", "available", "used"]
    with pytest.raises(IllegalTransition):
        _redeem(container, tid, code, 100)


def test_currency_mismatch_is_refused_and_takes_nothing(container, tenant):
    tid, _key = tenant
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    voucher, code = _voucher(container, tid, value)
    with pytest.raises(Invalid) as refused:
        _redeem(container, tid, code, 500, currency="USD")
    assert refused.value.field == "purchase.currency"
    with pytest.raises(Invalid) as missing:
        redemption.redeem(container.uow(tid), container.code_secret, by_code(code, "1"), POLICY)
    assert missing.value.field == "purchase"
    assert _records(container, tid, voucher.serial, "voucher.redeem") == []
    assert _redeem(container, tid, code, 1_000).take.left_minor == 0  # type: ignore[union-attr]


def test_reversal_gives_back_what_each_use_took_newest_first(container, tenant):
    tid, _key = tenant
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    voucher, code = _voucher(container, tid, value)
    _redeem(container, tid, code, 300)
    _redeem(container, tid, code, 700)  # used up

    def reverse():
        return redemption.reverse(
            container.uow(tid), container.code_secret, by_serial(voucher.serial), POLICY
        )

    first, second = reverse(), reverse()
    assert (first.given_back_minor, first.status_before, first.voucher.status) == (
        700, S.USED, S.AVAILABLE,
    )  # fmt: skip
    assert (second.given_back_minor, second.status_before) == (300, S.AVAILABLE)
    with pytest.raises(IllegalTransition):
        reverse()  # nothing left to give back
    records = _records(container, tid, voucher.serial, "voucher.reverse")
    assert [(r.amount_minor, r.details["left_minor"]) for r in records] == [
        (700, 700),
        (300, 1_000),
    ]
    assert _redeem(container, tid, code, 5_000).take.taken_minor == 1_000  # type: ignore[union-attr]


def test_validate_and_reserve_answer_what_a_use_would_take(container, tenant):
    tid, _key = tenant
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    _voucher_row, code = _voucher(container, tid, value)
    _redeem(container, tid, code, 400)
    purchase = Money(800, "EUR")
    checked = redemption.validate(
        container.uow(tid), container.code_secret, by_code(code, purchase=purchase), POLICY
    )
    assert checked.take is not None and (checked.take.taken_minor, checked.take.due_minor) == (
        600, 200,
    )  # fmt: skip
    held = redemption.reserve(
        container.uow(tid), container.code_secret, by_code(code, "2547", purchase=purchase), POLICY
    )
    assert held.take is not None and held.take.taken_minor == 600
    used = redemption.confirm(
        container.uow(tid),
        container.code_secret,
        by_code(code, purchase=Money(100, "EUR")),
        POLICY,
    )
    assert used.take is not None and used.take.left_minor == 500
    assert used.voucher.status is S.AVAILABLE  # confirmed for less: the rest stays usable


def test_a_reissued_stored_value_holds_what_was_left_not_its_whole_value(container, tenant):
    tid, _key = tenant
    value = PurchaseValue(ValueKind.STORED_VALUE, amount_minor=1_000)
    voucher, code = _voucher(container, tid, value)
    _redeem(container, tid, code, 650)
    reissued = redemption.reissue(
        container.uow(tid), container.code_secret, by_serial(voucher.serial), POLICY
    )
    assert reissued.replacement_code is not None
    outcome = _redeem(container, tid, reissued.replacement_code, 5_000)
    assert outcome.take is not None and outcome.take.taken_minor == 350
