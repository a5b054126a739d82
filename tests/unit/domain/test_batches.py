from datetime import UTC, datetime

import pytest

from tessera.domain.batches import (
    BatchOperation,
    BatchState,
    SerialRange,
    describe_expiry,
    next_batch_state,
    serial_range,
    voucher_operation,
)
from tessera.domain.errors import Conflict, Invalid
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.domain.statuses import Operation

B, Op = BatchState, BatchOperation


def test_batch_operations_use_the_voucher_transition_table():
    assert voucher_operation(Op.ACTIVATE) is Operation.ACTIVATE
    assert voucher_operation(Op.UNFREEZE) is Operation.ACTIVATE
    assert voucher_operation(Op.FREEZE) is Operation.FREEZE
    assert voucher_operation(Op.CANCEL) is Operation.CLOSE


def test_whole_batch_states_move_generated_active_frozen_canceled():
    assert next_batch_state(B.GENERATED, Op.ACTIVATE, ranged=False) is B.ACTIVE
    assert next_batch_state(B.ACTIVE, Op.FREEZE, ranged=False) is B.FROZEN
    assert next_batch_state(B.FROZEN, Op.UNFREEZE, ranged=False) is B.ACTIVE
    assert next_batch_state(B.FROZEN, Op.CANCEL, ranged=False) is B.CANCELED


def test_a_range_never_makes_vouchers_available_in_a_batch_that_is_not_active():
    assert next_batch_state(B.GENERATED, Op.ACTIVATE, ranged=True) is B.ACTIVE
    with pytest.raises(Conflict):
        next_batch_state(B.FROZEN, Op.UNFREEZE, ranged=True)
    assert next_batch_state(B.FROZEN, Op.CANCEL, ranged=True) is B.FROZEN


@pytest.mark.parametrize("state", [B.CANCELED, B.FAILED])
@pytest.mark.parametrize("operation", list(Op))
def test_canceled_and_failed_batches_refuse_every_operation(state, operation):
    with pytest.raises(Conflict):
        next_batch_state(state, operation, ranged=False)


def test_a_generating_batch_refuses_operations_with_its_own_code():
    with pytest.raises(Conflict) as caught:
        next_batch_state(B.GENERATING, Op.ACTIVATE, ranged=False)
    assert caught.value.code == "batch_generating"


def test_a_serial_range_must_lie_inside_the_batch():
    batch = SerialRange(101, 200)
    assert serial_range(batch, None, None) == (batch, False)
    assert serial_range(batch, 101, 200) == (batch, False)
    assert serial_range(batch, 150, None) == (SerialRange(150, 200), True)
    for lo, hi, field in [
        (100, 150, "serial_from"),
        (150, 201, "serial_to"),
        (160, 150, "serial_from"),
    ]:
        with pytest.raises(Invalid) as caught:
            serial_range(batch, lo, hi)
        assert caught.value.field == field


def test_print_file_expiry_is_a_date_or_the_rule_from_activation():
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    from_issue = LifecycleRules(ValidityKind.FROM_ISSUE, validity_days=10)
    from_activation = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=30)
    assert describe_expiry(from_issue, issued) == "2026-01-11T00:00:00+00:00"
    assert describe_expiry(from_activation, issued) == "30 days from activation"
