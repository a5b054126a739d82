"""Voucher statuses and the one transition table that every operation consults: single
vouchers (redeem, reserve, ...) and bulk batch or range operations (activate, freeze, close)
alike. A bulk update's ``WHERE status IN (...)`` comes from ``sources(operation)``."""

from __future__ import annotations

from enum import StrEnum

from tessera.domain.errors import Conflict


class VoucherStatus(StrEnum):
    PENDING = "pending"  # in a batch that is not active: cannot be redeemed
    AVAILABLE = "available"
    RESERVED = "reserved"
    USED = "used"
    CANCELED = "canceled"
    EXPIRED = "expired"
    CLOSED = "closed"
    REISSUED = "reissued"


class Operation(StrEnum):
    ACTIVATE = "activate"  # a batch (or range) becomes usable
    FREEZE = "freeze"  # a batch (or range) is held back; unfreezing is ACTIVATE again
    RESERVE = "reserve"
    RELEASE = "release"
    CONFIRM = "confirm"
    REDEEM = "redeem"
    REVERSE = "reverse"
    REISSUE = "reissue"
    CANCEL = "cancel"  # the holder gives it back
    CLOSE = "close"  # the operator withdraws it (also what cancelling a batch does)
    EXPIRE = "expire"


S = VoucherStatus
TRANSITIONS: dict[Operation, dict[VoucherStatus, VoucherStatus]] = {
    Operation.ACTIVATE: {S.PENDING: S.AVAILABLE},
    Operation.FREEZE: {S.AVAILABLE: S.PENDING},
    Operation.RESERVE: {S.AVAILABLE: S.RESERVED},
    Operation.RELEASE: {S.RESERVED: S.AVAILABLE},
    Operation.CONFIRM: {S.RESERVED: S.USED},
    Operation.REDEEM: {S.AVAILABLE: S.USED},
    Operation.REVERSE: {S.USED: S.AVAILABLE},
    Operation.REISSUE: {S.AVAILABLE: S.REISSUED, S.RESERVED: S.REISSUED},
    Operation.CANCEL: {S.AVAILABLE: S.CANCELED, S.RESERVED: S.CANCELED},
    Operation.CLOSE: {S.PENDING: S.CLOSED, S.AVAILABLE: S.CLOSED, S.RESERVED: S.CLOSED},
    # A used voucher never expires; pending stock was never sold, so it has no revenue to
    # recognize and is closed instead.
    Operation.EXPIRE: {S.AVAILABLE: S.EXPIRED, S.RESERVED: S.EXPIRED},
}

FINISHED = frozenset({S.USED, S.CANCELED, S.EXPIRED, S.CLOSED, S.REISSUED})

# What a caller may ask of one voucher. Activate and freeze move batches or serial ranges,
# and expire is the sweeper's: a refusal never offers them as a way out.
POINT_OF_SALE_OPERATIONS = (
    Operation.RESERVE,
    Operation.CONFIRM,
    Operation.RELEASE,
    Operation.REDEEM,
)
OPERATOR_OPERATIONS = (Operation.REVERSE, Operation.REISSUE, Operation.CANCEL, Operation.CLOSE)
VOUCHER_OPERATIONS = (*POINT_OF_SALE_OPERATIONS, *OPERATOR_OPERATIONS)


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, current: VoucherStatus, operation: Operation) -> None:
        allowed = [op for op in allowed_operations(current) if op in VOUCHER_OPERATIONS]
        super().__init__(
            f"cannot {operation.value} a voucher that is {current.value}",
            status=current.value,
            operation=operation.value,
            allowed_operations=[op.value for op in allowed],
        )
        self.current = current
        self.operation = operation


def sources(operation: Operation) -> frozenset[VoucherStatus]:
    """The statuses from which ``operation`` may start."""
    return frozenset(TRANSITIONS[operation])


def next_status(current: VoucherStatus, operation: Operation) -> VoucherStatus:
    try:
        return TRANSITIONS[operation][current]
    except KeyError:
        raise IllegalTransition(current, operation) from None


def past_expiry(current: VoucherStatus) -> Operation | None:
    """What the sweeper does to a voucher it finds past expiry and grace: sold stock
    expires (its revenue is recognized); unsold stock (pending) is closed, having no revenue
    to recognize; a finished voucher stays as it is."""
    if current is S.PENDING:
        return Operation.CLOSE
    return Operation.EXPIRE if current in TRANSITIONS[Operation.EXPIRE] else None


def allowed_operations(current: VoucherStatus) -> list[Operation]:
    return [op for op, moves in TRANSITIONS.items() if current in moves]
