"""The fulfilment loop: the tenant's order system completes or fails what a redemption asked
of it, and a request left pending past ``TESSERA_FULFILMENT_TIMEOUT_SECONDS`` times out.

A failed or timed-out activation gives the voucher back (used -> available, as a reversal
would: its revenue reversed, on the record), so the subscriber can use it again. Settling is
a compare-and-set on the request: two answers for one request settle it once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from tessera.adapters.db.repositories.fulfilment import FulfilmentRequest
from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Invalid, NotFound
from tessera.domain.fulfilment import Action, FulfilmentSettled, FulfilmentStatus
from tessera.domain.paging import Page
from tessera.domain.revenue import voucher_revenue
from tessera.domain.statuses import Operation, VoucherStatus, next_status
from tessera.services.expiry import tenant_ids
from tessera.services.redemption.decision import voucher_record

CHUNK = 500
_VERB = {
    FulfilmentStatus.COMPLETED: "complete",
    FulfilmentStatus.FAILED: "fail",
    FulfilmentStatus.TIMED_OUT: "timeout",
}


@dataclass(frozen=True, slots=True)
class Settled:
    request: FulfilmentRequest
    voucher_restored: bool  # the voucher was given back (a failed or timed-out activation)


def list_requests(
    uow: UnitOfWork, status: FulfilmentStatus | None, cursor: str | None, limit: int
) -> Page[FulfilmentRequest]:
    with uow:
        return uow.fulfilment.list(status, cursor, limit)


def get_request(uow: UnitOfWork, request_id: uuid.UUID) -> FulfilmentRequest:
    with uow:
        found = uow.fulfilment.get(request_id)
    if found is None:
        raise NotFound("no fulfilment request has this id", code="fulfilment_not_found")
    return found


def complete(uow: UnitOfWork, request_id: uuid.UUID) -> Settled:
    """The order system delivered the offer (or revoked it)."""
    return _settle_one(uow, request_id, FulfilmentStatus.COMPLETED, None)


def fail(uow: UnitOfWork, request_id: uuid.UUID, reason: str) -> Settled:
    """The order system could not deliver: an activation gives the voucher back."""
    if not reason.strip():
        raise Invalid("reason", "must say why the request failed")
    return _settle_one(uow, request_id, FulfilmentStatus.FAILED, reason.strip())


def time_out(uow: UnitOfWork, timeout: timedelta, chunk: int = CHUNK) -> int:
    """Settle this tenant's requests pending for longer than ``timeout``; returns how many."""
    timed_out = 0
    while True:
        with uow:
            now = uow.clock()
            overdue = uow.fulfilment.overdue(now - timeout, chunk)
            drafts: list[EdrDraft] = []
            for request in overdue:
                reason = f"no answer within {int(timeout.total_seconds())} s"
                if _settle(uow, request.id, FulfilmentStatus.TIMED_OUT, reason, now, drafts):
                    timed_out += 1
            uow.edrs.append_many(drafts, now)
            uow.commit()
        if len(overdue) < chunk:
            return timed_out


def time_out_all(
    directory: Callable[[], DirectoryUnitOfWork],
    uow_for: Callable[[uuid.UUID], UnitOfWork],
    timeout: timedelta,
) -> int:
    return sum(time_out(uow_for(tenant_id), timeout) for tenant_id in tenant_ids(directory()))


def _settle_one(
    uow: UnitOfWork, request_id: uuid.UUID, status: FulfilmentStatus, reason: str | None
) -> Settled:
    with uow:
        now = uow.clock()
        drafts: list[EdrDraft] = []
        settled = _settle(uow, request_id, status, reason, now, drafts)
        if settled is None:
            current = uow.fulfilment.get(request_id)
            if current is None:
                raise NotFound("no fulfilment request has this id", code="fulfilment_not_found")
            raise FulfilmentSettled(current.status)
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return settled


def _settle(
    uow: UnitOfWork,
    request_id: uuid.UUID,
    status: FulfilmentStatus,
    reason: str | None,
    now: datetime,
    drafts: list[EdrDraft],
) -> Settled | None:
    """Inside an open unit of work: pending -> ``status`` and, for an activation that did not
    complete, the voucher given back; the EDRs go to ``drafts``. None if no longer pending."""
    request = uow.fulfilment.settle(request_id, status, now, reason)
    if request is None:
        return None
    given_back: list[EdrDraft] = []
    restored = False
    if status is not FulfilmentStatus.COMPLETED and request.action == Action.ACTIVATE.value:
        restored = _give_back(uow, request, status, now, given_back)
    drafts.append(
        EdrDraft(
            f"fulfilment.{_VERB[status]}",
            "fulfilment",
            str(request.id),
            status_before=FulfilmentStatus.PENDING.value,
            status_after=status.value,
            details={
                "serial": request.serial,
                "offer": request.offer,
                "action": request.action,
                "reason": reason,
                "voucher_restored": restored,
            },
        )
    )
    drafts += given_back
    return Settled(request, restored)


def _give_back(
    uow: UnitOfWork,
    request: FulfilmentRequest,
    status: FulfilmentStatus,
    now: datetime,
    drafts: list[EdrDraft],
) -> bool:
    """used -> available for the voucher whose activation failed, if it is still used (a
    reversal meanwhile, or a purge, leaves nothing to give back)."""
    voucher = uow.vouchers.get(request.voucher_id)
    if voucher is None or voucher.status is not VoucherStatus.USED:
        return False
    after = next_status(VoucherStatus.USED, Operation.REVERSE)
    moved = uow.vouchers.transition(voucher, VoucherStatus.USED, after, now)
    if moved is None:
        return False
    voucher_type = uow.voucher_types.get(voucher.voucher_type_id)
    assert voucher_type is not None
    spec = voucher_type.spec
    cause = f"fulfilment_{status.value}"
    drafts.append(
        voucher_record(
            Operation.REVERSE,
            voucher,
            voucher_type,
            VoucherStatus.USED,
            after,
            amount=True,
            revenue="reversed",
            cause=cause,
            fulfilment_request_id=str(request.id),
        )
    )
    drafts += voucher_revenue(voucher, spec, VoucherStatus.USED, after, now, cause)
    return True
