"""The revenue ledger: the cost of a voucher moves between named balances as its status does.

A voucher is *sellable* while it is available or reserved: its cost is then deferred
revenue. Every change in or out of sellable moves its cost, and each move is an EDR
(``revenue.<movement>``, with the amount and the currency):

- into sellable: ``added`` (batch or range activation, unfreezing, issue by API, as a reward
  or as a reissue's replacement), or ``reversed`` when a redemption is reversed (used ->
  available);
- out of it: ``recognized_by_use`` (redeem, confirm), ``recognized_by_expiry`` (expired
  after grace), or ``released`` (canceled, closed, frozen, or reissued: its replacement is
  added) before use.

A move counts at its ``effective_at``: a use at the activity time, an expiry when the grace
period ended, the rest when they happen; never before the voucher's last change, so a
voucher cannot leave the deferred balance before it entered it. A voucher of cost zero
moves nothing. Pure: the services build the EDRs; the database keeps a narrow copy of each
(``revenue_movements``, filled by a trigger from the EDR) for the reports.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from tessera.domain.catalog import VoucherTypeSpec
from tessera.domain.edr import EdrDraft
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher

S = VoucherStatus
SELLABLE = frozenset({S.AVAILABLE, S.RESERVED})
OPERATION_PREFIX = "revenue."


class Movement(StrEnum):
    ADDED = "added"
    RECOGNIZED_BY_USE = "recognized_by_use"
    RECOGNIZED_BY_EXPIRY = "recognized_by_expiry"
    REVERSED = "reversed"
    RELEASED = "released"

    @property
    def sign(self) -> int:
        """+1 into the deferred balance, -1 out of it."""
        return 1 if self in (Movement.ADDED, Movement.REVERSED) else -1


def movement(before: VoucherStatus | None, after: VoucherStatus) -> Movement | None:
    """The move a status change makes (``before`` None: a voucher made in ``after``)."""
    was, now = before in SELLABLE, after in SELLABLE
    if now and not was:
        return Movement.REVERSED if before is S.USED else Movement.ADDED
    if was and not now:
        if after is S.USED:
            return Movement.RECOGNIZED_BY_USE
        if after is S.EXPIRED:
            return Movement.RECOGNIZED_BY_EXPIRY
        return Movement.RELEASED
    return None


def moment(at: datetime) -> str:
    """The effective time as the EDR carries it: fixed width, so that the stores' trigger
    can read it (``2026-12-07T15:04:05.000000+00:00``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def revenue_edr(
    kind: Movement,
    *,
    cost_minor: int,
    currency: str,
    voucher_type_id: uuid.UUID,
    batch_id: uuid.UUID | None,
    subject_type: str,
    subject_id: str,
    effective_at: datetime,
    cause: str,
    vouchers: int = 1,
    status_before: VoucherStatus | None = None,
    status_after: VoucherStatus | None = None,
) -> EdrDraft | None:
    """The revenue EDR of ``vouchers`` vouchers of one type making the move ``kind``, or
    None when nothing moves (a zero cost, no voucher)."""
    if cost_minor == 0 or vouchers == 0:
        return None
    return EdrDraft(
        OPERATION_PREFIX + kind.value,
        subject_type,
        subject_id,
        status_before=None if status_before is None else status_before.value,
        status_after=None if status_after is None else status_after.value,
        amount_minor=cost_minor * vouchers,
        currency=currency,
        details={
            "movement": kind.value,
            "voucher_type_id": str(voucher_type_id),
            "batch_id": None if batch_id is None else str(batch_id),
            "vouchers": vouchers,
            "effective_at": moment(effective_at),
            "cause": cause,
        },
    )


def voucher_revenue(
    voucher: Voucher,
    spec: VoucherTypeSpec,
    before: VoucherStatus | None,
    after: VoucherStatus,
    effective_at: datetime,
    cause: str,
) -> list[EdrDraft]:
    """The revenue EDR (none, or one) of one voucher's change, as its type is now; never
    effective before the voucher's last change (``before`` None: a voucher just made)."""
    kind = movement(before, after)
    if kind is None:
        return []
    if before is not None:
        effective_at = max(effective_at, voucher.status_changed_at)
    draft = revenue_edr(
        kind,
        cost_minor=spec.cost_minor,
        currency=spec.currency,
        voucher_type_id=voucher.voucher_type_id,
        batch_id=voucher.batch_id,
        subject_type="voucher",
        subject_id=str(voucher.serial),
        effective_at=effective_at,
        cause=cause,
        status_before=before,
        status_after=after,
    )
    return [] if draft is None else [draft]
