"""Distributions: give one partner code to one subscriber."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tessera.entrypoints.http.deps import VoucherOperator
from tessera.entrypoints.http.idempotency import IdempotencyDep
from tessera.services.distribution import MAX_LISTS, Distribution, code_again, distribute

router = APIRouter(prefix="/v1/distributions", tags=["voucher lists"])


class DistributionIn(BaseModel):
    list_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=MAX_LISTS, description="Tried in this order"
    )
    subscriber: str = Field(min_length=1, max_length=64, description="External id (MSISDN)")
    campaign: str | None = Field(None, max_length=200)


class DistributionOut(BaseModel):
    code: str
    code_id: int
    list_id: uuid.UUID
    list: str
    partner: str
    description: str | None
    expires_at: datetime | None
    subscriber: str
    issued_at: datetime
    campaign: str | None
    already_given: bool = Field(
        description="The subscriber was at the list's codes_per_subscriber: this is the code "
        "it was given last, nothing was taken (answered 200, not 201)"
    )

    @classmethod
    def of(cls, d: Distribution) -> DistributionOut:
        return cls(
            code=d.code,
            code_id=d.code_id,
            list_id=d.list_id,
            list=d.list_name,
            partner=d.partner,
            description=d.description,
            expires_at=d.expires_at,
            subscriber=d.subscriber,
            issued_at=d.issued_at,
            campaign=d.campaign,
            already_given=d.already_given,
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DistributionOut,
    responses={200: {"model": DistributionOut, "description": "The code already given"}},
)
def create_distribution(
    body: DistributionIn, uow: VoucherOperator, idem: IdempotencyDep
) -> JSONResponse:
    """One code from the first listed list that is active and has one; each code goes to
    exactly one subscriber (created if new). 409 `lists_exhausted` when none has a code left.
    A subscriber that already holds the list's `codes_per_subscriber` (default 1) is answered
    200 with the code it was given last (`already_given`), and nothing is taken.
    With an `Idempotency-Key`, a retry gets the first answer, the same code, and takes none."""

    def call() -> DistributionOut:
        return DistributionOut.of(distribute(uow, body.list_ids, body.subscriber, body.campaign))

    def reveal(stored: dict[str, Any]) -> dict[str, Any]:
        return {**stored, "code": code_again(uow, stored["code_id"])}

    def status_of(answer: DistributionOut) -> int:
        return status.HTTP_200_OK if answer.already_given else status.HTTP_201_CREATED

    return idem.run(
        uow, body, call, status_code=status.HTTP_201_CREATED, reveal=reveal, answer_status=status_of
    )
