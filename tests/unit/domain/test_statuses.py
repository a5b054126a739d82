import pytest

from tessera.domain.statuses import (
    FINISHED,
    IllegalTransition,
    Operation,
    VoucherStatus,
    allowed_operations,
    next_status,
    past_expiry,
    sources,
)


def test_used_voucher_never_expires():
    with pytest.raises(IllegalTransition):
        next_status(VoucherStatus.USED, Operation.EXPIRE)


def test_reissue_only_from_available_or_reserved():
    assert sources(Operation.REISSUE) == {VoucherStatus.AVAILABLE, VoucherStatus.RESERVED}


def test_cancel_only_from_available_or_reserved_and_close_also_from_pending():
    assert sources(Operation.CANCEL) == {VoucherStatus.AVAILABLE, VoucherStatus.RESERVED}
    assert sources(Operation.CLOSE) == {
        VoucherStatus.PENDING,
        VoucherStatus.AVAILABLE,
        VoucherStatus.RESERVED,
    }


def test_pending_voucher_cannot_be_redeemed_or_reserved():
    for op in (Operation.REDEEM, Operation.RESERVE, Operation.CONFIRM):
        with pytest.raises(IllegalTransition):
            next_status(VoucherStatus.PENDING, op)


def test_illegal_transition_names_the_status_and_what_is_allowed():
    with pytest.raises(IllegalTransition) as caught:
        next_status(VoucherStatus.RESERVED, Operation.REDEEM)
    assert caught.value.extra["status"] == "reserved"
    assert set(caught.value.extra["allowed_operations"]) == {
        "release", "confirm", "reissue", "cancel", "close",
    }  # fmt: skip


def test_a_refusal_offers_no_operation_without_a_voucher_endpoint():
    # activate and freeze move batches and ranges; expire is the sweeper's
    with pytest.raises(IllegalTransition) as caught:
        next_status(VoucherStatus.PENDING, Operation.REDEEM)
    assert caught.value.extra["allowed_operations"] == ["close"]


def test_the_sweeper_expires_sold_stock_and_closes_unsold_stock():
    assert past_expiry(VoucherStatus.AVAILABLE) is Operation.EXPIRE
    assert past_expiry(VoucherStatus.RESERVED) is Operation.EXPIRE
    assert past_expiry(VoucherStatus.PENDING) is Operation.CLOSE
    for status in FINISHED:
        assert past_expiry(status) is None


def test_only_a_reversal_leaves_a_finished_status():
    for status in FINISHED:
        assert {op for op in allowed_operations(status)} <= {Operation.REVERSE}
    assert allowed_operations(VoucherStatus.USED) == [Operation.REVERSE]
