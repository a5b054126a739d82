"""Settlement of marketplace uses: a tenant's own lines with the other tenants of its group
(``/v1/marketplace/settlement``), and a host's flows between them (``/v1/brands/settlement``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tessera.adapters.db.repositories.marketplace import GroupFlow
from tessera.domain.marketplace import Side
from tessera.entrypoints.http.deps import GroupReader, Reader
from tessera.entrypoints.http.moments import Moment
from tessera.services import marketplace

router = APIRouter(tags=["marketplace"])


class LineOut(BaseModel):
    edr_id: int
    occurred_at: datetime
    serial: str
    side: Side = Field(description="issuer: this tenant owes; redeemer: it is owed")
    counterparty: uuid.UUID
    issuing_brand: uuid.UUID
    redeeming_brand: uuid.UUID
    amount_minor: int
    currency: str


class BalanceOut(BaseModel):
    counterparty: uuid.UUID
    currency: str
    uses: int
    net_minor: int = Field(description="> 0: the counterparty owes this tenant; < 0: it is owed")


class SettlementOut(BaseModel):
    since: datetime
    until: datetime
    balances: list[BalanceOut]
    lines: list[LineOut]


class FlowOut(BaseModel):
    issuing_brand: uuid.UUID = Field(description="Owes the redeeming brand")
    redeeming_brand: uuid.UUID
    currency: str
    uses: int
    amount_minor: int

    @classmethod
    def of(cls, flow: GroupFlow) -> FlowOut:
        return cls(
            issuing_brand=flow.issuing_brand,
            redeeming_brand=flow.redeeming_brand,
            currency=flow.currency,
            uses=flow.uses,
            amount_minor=flow.amount_minor,
        )


class FlowsOut(BaseModel):
    items: list[FlowOut]


@router.get("/v1/marketplace/settlement")
def marketplace_settlement(uow: Reader, since: Moment, until: Moment) -> SettlementOut:
    """Every marketplace use the tenant issued or redeemed in [since, until): the issuer owes
    the redeeming brand the voucher's cost; and the net per counterparty and currency."""
    found = marketplace.settlement(uow, since, until)
    return SettlementOut(
        since=found.since,
        until=found.until,
        balances=[
            BalanceOut(
                counterparty=b.counterparty, currency=b.currency, uses=b.uses, net_minor=b.net_minor
            )
            for b in found.balances
        ],
        lines=[
            LineOut(
                edr_id=line.edr_id,
                occurred_at=line.occurred_at,
                serial=line.serial,
                side=line.side,
                counterparty=line.counterparty,
                issuing_brand=line.issuing_brand,
                redeeming_brand=line.redeeming_brand,
                amount_minor=line.amount_minor,
                currency=line.currency,
            )
            for line in found.lines
        ],
    )


@router.get("/v1/brands/settlement")
def group_settlement(uow: GroupReader, since: Moment, until: Moment) -> FlowsOut:
    """A host's view: what each tenant of its group owes another for marketplace uses in
    [since, until) (sums, from the issuers' lines)."""
    return FlowsOut(items=[FlowOut.of(f) for f in marketplace.group_flows(uow, since, until)])
