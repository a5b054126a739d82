"""Batches: N vouchers of one type generated at once, owning a contiguous serial range.

The batch state says what the batch as a whole may do; the vouchers' own statuses move by
the one transition table in ``statuses.py``. Whole-batch and range operations map onto it:
activate and unfreeze are ``ACTIVATE`` (pending -> available), freeze is ``FREEZE``
(available -> pending) and cancel closes the vouchers (``CLOSE``).
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from tessera.domain.catalog import BucketTemplate, VoucherType
from tessera.domain.codes import CodeFormat, ensure_code_space
from tessera.domain.errors import Conflict, Invalid
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.domain.statuses import Operation

MAX_BATCH = 10_000_000  # ten times the largest print run we plan for; bounds one request


class BatchState(StrEnum):
    GENERATING = "generating"
    GENERATED = "generated"  # complete; its vouchers are pending until activation
    ACTIVE = "active"
    FROZEN = "frozen"
    CANCELED = "canceled"
    FAILED = "failed"  # generation died; its partial vouchers were removed


class BatchOperation(StrEnum):
    ACTIVATE = "activate"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    CANCEL = "cancel"


B = BatchState


@dataclass(frozen=True, slots=True)
class _Rule:
    voucher_operation: Operation
    whole: dict[BatchState, BatchState]  # batch state before -> after, for the whole batch
    ranged: dict[BatchState, BatchState]  # the same, for a serial range within it

    def moves(self, ranged: bool) -> dict[BatchState, BatchState]:
        return self.ranged if ranged else self.whole


# A range never makes vouchers available in a batch that is not active: activating a range
# of a generated batch makes the batch active (the rest stay pending), and a frozen batch
# is unfrozen whole. Unfreezing a whole batch is activation again, so it also activates
# vouchers that were never activated by range (it follows from unfreeze = ACTIVATE).
_RULES: dict[BatchOperation, _Rule] = {
    BatchOperation.ACTIVATE: _Rule(
        Operation.ACTIVATE, {B.GENERATED: B.ACTIVE}, {B.GENERATED: B.ACTIVE, B.ACTIVE: B.ACTIVE}
    ),
    BatchOperation.FREEZE: _Rule(Operation.FREEZE, {B.ACTIVE: B.FROZEN}, {B.ACTIVE: B.ACTIVE}),
    BatchOperation.UNFREEZE: _Rule(Operation.ACTIVATE, {B.FROZEN: B.ACTIVE}, {B.ACTIVE: B.ACTIVE}),
    BatchOperation.CANCEL: _Rule(
        Operation.CLOSE,
        {B.GENERATED: B.CANCELED, B.ACTIVE: B.CANCELED, B.FROZEN: B.CANCELED},
        {B.GENERATED: B.GENERATED, B.ACTIVE: B.ACTIVE, B.FROZEN: B.FROZEN},
    ),
}


class BatchStateConflict(Conflict):
    code = "batch_state_conflict"

    def __init__(self, state: BatchState, operation: BatchOperation, *, ranged: bool) -> None:
        allowed = _RULES[operation].moves(ranged)
        what = "a serial range of" if ranged else ""
        super().__init__(
            f"cannot {operation.value} {what} a batch that is {state.value}".replace("  ", " "),
            state=state.value,
            operation=operation.value,
            allowed_states=sorted(s.value for s in allowed),
        )


def voucher_operation(operation: BatchOperation) -> Operation:
    return _RULES[operation].voucher_operation


def next_batch_state(state: BatchState, operation: BatchOperation, *, ranged: bool) -> BatchState:
    """The batch's state after ``operation``; refuses what the state does not allow."""
    if state is BatchState.GENERATING:
        raise Conflict(
            "the batch is still being generated", code="batch_generating", state=state.value
        )
    moves = _RULES[operation].moves(ranged)
    if state not in moves:
        raise BatchStateConflict(state, operation, ranged=ranged)
    return moves[state]


@dataclass(frozen=True, slots=True)
class SerialRange:
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def serial_range(
    batch_range: SerialRange, serial_from: int | None, serial_to: int | None
) -> tuple[SerialRange, bool]:
    """The range an operation covers and whether it is a proper range (not the whole batch).

    A range must lie inside the batch; either end may be left out to mean the batch's end.
    """
    if serial_from is None and serial_to is None:
        return batch_range, False
    first = batch_range.first if serial_from is None else serial_from
    last = batch_range.last if serial_to is None else serial_to
    if first > last:
        raise Invalid("serial_from", "must not be greater than serial_to", code="serial_range")
    for name, value in (("serial_from", first), ("serial_to", last)):
        if not batch_range.first <= value <= batch_range.last:
            raise Invalid(
                name,
                f"{value} is outside the batch's serials {batch_range.first}-{batch_range.last}",
                code="serial_range",
                batch_serial_first=batch_range.first,
                batch_serial_last=batch_range.last,
            )
    chosen = SerialRange(first, last)
    return chosen, chosen != batch_range


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """What an operator asks for; checked before anything is reserved or written."""

    voucher_type_id: uuid.UUID
    count: int
    code_format: CodeFormat = field(default_factory=CodeFormat)
    include_cost: bool = False

    def validated(self, voucher_type: VoucherType) -> BatchRequest:
        if isinstance(self.count, bool) or not 1 <= self.count <= MAX_BATCH:
            raise Invalid("count", f"must be between 1 and {MAX_BATCH}")
        if not voucher_type.spec.active:
            raise Conflict(
                f"the voucher type '{voucher_type.spec.name}' is not active: "
                "new batches cannot be made of it",
                code="voucher_type_inactive",
            )
        ensure_code_space(self.count, self.code_format)
        return self


@dataclass(frozen=True, slots=True)
class Batch:
    id: uuid.UUID
    voucher_type_id: uuid.UUID
    lifecycle_id: uuid.UUID
    state: BatchState
    requested: int
    generated: int
    code_format: CodeFormat
    serials: SerialRange
    include_cost: bool
    print_file: str | None
    print_file_sha256: str | None
    print_file_fetched_at: datetime | None
    error: str | None
    worker_pid: int | None
    worker_host: str | None
    created_at: datetime
    updated_at: datetime


# --- the print file -----------------------------------------------------------------------

PRINT_FILE_COLUMNS = ("serial", "code", "type", "grants", "expiry", "batch_id")


def print_file_header(include_cost: bool) -> str:
    return _csv_line([*PRINT_FILE_COLUMNS, *(("cost", "currency") if include_cost else ())])


def describe_grants(buckets: tuple[BucketTemplate, ...]) -> str:
    """'1024 data_mb for 30 days; 100 sms' - what a redemption credits, for the printer."""
    parts = []
    for b in buckets:
        validity = f" for {b.validity_days} days" if b.validity_days is not None else ""
        parts.append(f"{b.amount} {b.balance_type}{validity}")
    return "; ".join(parts)


def describe_expiry(rules: LifecycleRules, issued_at: datetime) -> str:
    """A date when the expiry is known at generation, else the rule (from activation)."""
    if rules.validity_kind is ValidityKind.FROM_ACTIVATION:
        return f"{rules.validity_days} days from activation"
    expiry = rules.expiry(issued_at, None)
    return "" if expiry is None else expiry.isoformat()


def print_row_suffix(
    voucher_type: VoucherType,
    rules: LifecycleRules,
    batch_id: uuid.UUID,
    issued_at: datetime,
    include_cost: bool,
) -> str:
    """Everything after 'serial,code,' in a row; the same for every voucher of a batch, so
    the generator only formats the serial and the code per row."""
    spec = voucher_type.spec
    values = [
        spec.name,
        describe_grants(spec.buckets),
        describe_expiry(rules, issued_at),
        str(batch_id),
    ]
    if include_cost:
        values += [str(spec.cost_minor), spec.currency]
    return _csv_line(values)


def _csv_line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()
