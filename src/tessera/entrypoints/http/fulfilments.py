"""Fulfilment requests, as the tenant's order system settles them: a redemption of a type
with an offer asks for it (webhook ``fulfilment.requested``, with ``request_id``), and the
order system answers ``complete`` or ``fail`` with its ``order_system`` key (or an operator's).
A request left pending past ``TESSERA_FULFILMENT_TIMEOUT_SECONDS`` times out; a failed or
timed-out activation gives the voucher back."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tessera.adapters.db.repositories.fulfilment import FulfilmentRequest
from tessera.domain.fulfilment import FulfilmentStatus
from tessera.entrypoints.http.deps import OrderSystem
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import fulfilment

router = APIRouter(prefix="/v1/fulfilments", tags=["fulfilments"])


class FulfilmentOut(BaseModel):
    id: uuid.UUID
    serial: int
    subscriber_id: uuid.UUID
    offer: str
    action: str = Field(description="activate (a redemption) or revoke (its reversal)")
    parameters: dict[str, str]
    status: FulfilmentStatus
    created_at: datetime
    settled_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, r: FulfilmentRequest) -> FulfilmentOut:
        return cls(
            id=r.id,
            serial=r.serial,
            subscriber_id=r.subscriber_id,
            offer=r.offer,
            action=r.action,
            parameters=r.parameters,
            status=r.status,
            created_at=r.created_at,
            settled_at=r.settled_at,
            reason=r.reason,
        )


class SettledOut(BaseModel):
    request: FulfilmentOut
    voucher_restored: bool = Field(
        description="The voucher was given back (used -> available): a failed or timed-out "
        "activation"
    )


class FailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200, description="Why it could not be done")


@router.get("")
def list_fulfilments(
    uow: OrderSystem,
    status: FulfilmentStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[FulfilmentOut]:
    page = fulfilment.list_requests(uow, status, cursor, limit)
    return PageOut(items=[FulfilmentOut.of(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{request_id}")
def get_fulfilment(request_id: uuid.UUID, uow: OrderSystem) -> FulfilmentOut:
    return FulfilmentOut.of(fulfilment.get_request(uow, request_id))


@router.post("/{request_id}/complete")
def complete_fulfilment(request_id: uuid.UUID, uow: OrderSystem) -> SettledOut:
    """The offer was delivered (or revoked). A request already settled answers 409."""
    settled = fulfilment.complete(uow, request_id)
    return SettledOut(request=FulfilmentOut.of(settled.request), voucher_restored=False)


@router.post("/{request_id}/fail")
def fail_fulfilment(request_id: uuid.UUID, body: FailIn, uow: OrderSystem) -> SettledOut:
    """The offer could not be delivered: an activation gives the voucher back to be used
    again, with its EDRs. A request already settled answers 409."""
    settled = fulfilment.fail(uow, request_id, body.reason)
    return SettledOut(
        request=FulfilmentOut.of(settled.request), voucher_restored=settled.voucher_restored
    )
