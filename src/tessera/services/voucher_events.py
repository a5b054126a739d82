"""The one place where voucher changes become notifications (``voucher.redeemed``,
``voucher.expired``, ``fulfilment.requested``): each is queued in the outbox inside the
caller's transaction, so a notification exists exactly when the change it reports committed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.catalog import VoucherType
from tessera.domain.vouchers import Voucher
from tessera.services.notifications import enqueue

VOUCHER_REDEEMED = "voucher.redeemed"
VOUCHER_EXPIRED = "voucher.expired"
FULFILMENT_REQUESTED = "fulfilment.requested"


def voucher_redeemed(
    uow: UnitOfWork, voucher: Voucher, voucher_type: VoucherType, subscriber: str, at: datetime
) -> None:
    spec = voucher_type.spec
    enqueue(
        uow,
        VOUCHER_REDEEMED,
        {
            "serial": voucher.serial,
            "code_last4": voucher.code_last4,
            "voucher_type": spec.name,
            "subscriber": subscriber,
            "redeemed_at": at,
            "amount_minor": spec.cost_minor,
            "currency": spec.currency,
        },
    )


def voucher_expired(
    uow: UnitOfWork,
    voucher: Voucher,
    voucher_type: VoucherType,
    subscriber: str | None,
    at: datetime,
) -> None:
    enqueue(
        uow,
        VOUCHER_EXPIRED,
        {
            "serial": voucher.serial,
            "voucher_type": voucher_type.spec.name,
            "subscriber": subscriber,
            "expired_at": at,
        },
    )


def fulfilment_requested(
    uow: UnitOfWork,
    voucher: Voucher,
    voucher_type: VoucherType,
    subscriber: str,
    action: str,
    at: datetime,
    request_id: uuid.UUID,
) -> None:
    """A typed voucher's reversal (``revoke``) asks the tenant's order system to act on the
    offer (a redemption's ``activate`` is decided in ``redemption.decision``)."""
    enqueue(
        uow,
        FULFILMENT_REQUESTED,
        {
            "request_id": str(request_id),
            "serial": voucher.serial,
            "voucher_type": voucher_type.spec.name,
            "offer": voucher_type.spec.fulfilment_offer,
            "action": action,
            "subscriber": subscriber,
            "redeemed_at": at,
        },
    )
