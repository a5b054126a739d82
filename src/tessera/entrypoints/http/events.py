"""Events in: one event or a batch of up to 1,000, evaluated as they arrive."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.events import MAX_BATCH, Event
from tessera.domain.roles import Permission
from tessera.domain.tenants import Caller
from tessera.entrypoints.http.deps import ContainerDep, require
from tessera.entrypoints.http.moments import Moment
from tessera.services.rewards_engine import EventOutcome

router = APIRouter(prefix="/v1/events", tags=["events"])


class EventIn(BaseModel):
    id: str = Field(
        min_length=1, max_length=100, description="Unique per tenant; a repeat is ignored"
    )
    subscriber: str = Field(min_length=1, max_length=64)
    type: str = Field(examples=["usage.data"])
    occurred_at: Moment
    attributes: dict[str, Any] = Field(default_factory=dict)

    def to_domain(self) -> Event:
        return Event(self.id, self.subscriber, self.type, self.occurred_at, self.attributes)


class BatchIn(BaseModel):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class RewardOut(BaseModel):
    reward_id: str
    campaign_id: str
    campaign: str
    kind: str
    details: dict[str, Any]
    cost_minor: int
    currency: str
    funding_partner: str | None


class EventResultOut(BaseModel):
    id: str
    duplicate: bool = Field(description="True when this id was seen before: ignored")
    rewards: list[RewardOut]


class BatchOut(BaseModel):
    results: list[EventResultOut]


def outcome_out(o: EventOutcome) -> EventResultOut:
    return EventResultOut(
        id=o.id,
        duplicate=o.duplicate,
        rewards=[
            RewardOut(
                reward_id=str(r.reward_id),
                campaign_id=str(r.campaign_id),
                campaign=r.campaign,
                kind=r.kind,
                details=r.details,
                cost_minor=r.cost_minor,
                currency=r.currency,
                funding_partner=r.funding_partner,
            )
            for r in o.rewards
        ],
    )


Ingestor = Annotated[Caller, Depends(require(Permission.SEND_EVENTS))]


def _uow(container: ContainerDep, caller: Caller) -> UnitOfWork:
    return container.uow(caller.tenant_id, caller.key_id)


def _answer(outcomes: list[EventOutcome]) -> bytes:
    """The batch answer as JSON, written directly: for 1,000 events, building and then
    serialising the response models cost more than evaluating them."""
    results = [
        {
            "id": o.id,
            "duplicate": o.duplicate,
            "rewards": [
                {
                    "reward_id": str(r.reward_id),
                    "campaign_id": str(r.campaign_id),
                    "campaign": r.campaign,
                    "kind": r.kind,
                    "details": r.details,
                    "cost_minor": r.cost_minor,
                    "currency": r.currency,
                    "funding_partner": r.funding_partner,
                }
                for r in o.rewards
            ],
        }
        for o in outcomes
    ]
    return json.dumps(
        {"results": results}, separators=(",", ":"), default=to_jsonable_python
    ).encode()


@router.post("", response_model=BatchOut)
def post_events(
    container: ContainerDep,
    caller: Ingestor,
    body: Annotated[BatchIn | EventIn, Body(description='One event, or {"events": [...]}')],
) -> Response:
    events = body.events if isinstance(body, BatchIn) else [body]
    outcomes = container.rewards.ingest(_uow(container, caller), [e.to_domain() for e in events])
    return Response(_answer(outcomes), media_type="application/json")
