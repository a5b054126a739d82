"""Campaigns, aggregates, simulation, partner settlement and reward reversal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tessera.domain.aggregates import AggregateDefinition, Function, Window
from tessera.domain.campaigns import (
    Campaign,
    CampaignFigures,
    CampaignSpec,
    CampaignStatus,
    CapPeriod,
    Caps,
    RewardKind,
    RewardSpec,
)
from tessera.entrypoints.http.deps import (
    CatalogManager,
    ContainerDep,
    ListReportReader,
    Reader,
    SubscriberManager,
)
from tessera.entrypoints.http.events import EventIn, EventResultOut, outcome_out
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import campaigns

router = APIRouter(tags=["campaigns"])


class RewardIO(BaseModel):
    kind: RewardKind
    balance_type: str | None = None
    amount: int | None = None
    validity_days: int | None = None
    voucher_type_id: uuid.UUID | None = None
    list_ids: list[uuid.UUID] = Field(default_factory=list)

    def to_domain(self) -> RewardSpec:
        return RewardSpec(**{**self.model_dump(), "list_ids": tuple(self.list_ids)})


class CapsIO(BaseModel):
    per_subscriber: int | None = None
    per_subscriber_period: CapPeriod = CapPeriod.CAMPAIGN
    total_rewards: int | None = None
    total_budget_minor: int | None = None


class CampaignIn(BaseModel):
    name: str = Field(max_length=200)
    trigger_types: list[str] = Field(examples=[["usage.data"]])
    condition: str = Field(
        examples=[
            "event.attributes.mb >= 100 && subscriber.tier == 'gold' && agg.data_mb_month > 1000"
        ],
        description="CEL over event, subscriber, agg and now",
    )
    rewards: list[RewardIO]
    status: CampaignStatus = CampaignStatus.DRAFT
    priority: int = 100
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    caps: CapsIO = Field(default_factory=CapsIO)
    currency: str = "XXX"
    funding_partner: str | None = Field(None, max_length=200)
    cost_per_reward_minor: int = 0

    def to_domain(self) -> CampaignSpec:
        values = self.model_dump(exclude={"rewards", "caps", "trigger_types"})
        return CampaignSpec(
            **values,
            trigger_types=tuple(self.trigger_types),
            rewards=tuple(r.to_domain() for r in self.rewards),
            caps=Caps(**self.caps.model_dump()),
        )


class CampaignPatch(BaseModel):
    name: str | None = None
    trigger_types: list[str] | None = None
    condition: str | None = None
    rewards: list[RewardIO] | None = None
    status: CampaignStatus | None = None
    priority: int | None = None
    starts_at: Moment | None = Field(None, description="null clears it: active from now")
    ends_at: Moment | None = Field(None, description="null clears it: no end")
    caps: CapsIO | None = None
    funding_partner: str | None = Field(None, description="null clears it")
    cost_per_reward_minor: int | None = None


class ConditionFailuresOut(BaseModel):
    count: int = Field(0, description="Events for which the condition failed while running")
    last_message: str | None = Field(None, examples=["no such key: tier"])
    last_at: datetime | None = None
    in_a_row: int = Field(
        0,
        description="Failures since the last successful evaluation; at "
        "TESSERA_CAMPAIGN_PAUSE_AFTER_FAILURES the campaign pauses itself (`campaign.paused`)",
    )


class CampaignOut(CampaignIn):
    id: uuid.UUID
    version: int
    rewards_issued: int
    budget_spent_minor: int
    condition_failures: ConditionFailuresOut = Field(
        description="A condition that fails while running (a missing attribute, a wrong type, "
        "a division by zero) counts as not matched for this campaign alone, and is counted here"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, shown: tuple[Campaign, CampaignFigures]) -> CampaignOut:
        c, figures = shown
        s = c.spec
        return cls(
            id=c.id,
            version=c.version,
            name=s.name,
            trigger_types=list(s.trigger_types),
            condition=s.condition,
            rewards=[RewardIO(**{**r.to_json(), "list_ids": list(r.list_ids)}) for r in s.rewards],
            status=s.status,
            priority=s.priority,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            caps=CapsIO(
                per_subscriber=s.caps.per_subscriber,
                per_subscriber_period=s.caps.per_subscriber_period,
                total_rewards=s.caps.total_rewards,
                total_budget_minor=s.caps.total_budget_minor,
            ),
            currency=s.currency,
            funding_partner=s.funding_partner,
            cost_per_reward_minor=s.cost_per_reward_minor,
            rewards_issued=figures.rewards_issued,
            budget_spent_minor=figures.budget_spent_minor,
            condition_failures=ConditionFailuresOut()
            if figures.failures is None
            else ConditionFailuresOut(
                count=figures.failures.count,
                last_message=figures.failures.last_message,
                last_at=figures.failures.last_at,
                in_a_row=figures.failures.in_a_row,
            ),
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


@router.post("/v1/campaigns", status_code=status.HTTP_201_CREATED)
def create_campaign(body: CampaignIn, uow: CatalogManager) -> CampaignOut:
    return CampaignOut.of(campaigns.create_campaign(uow, body.to_domain()))


@router.get("/v1/campaigns")
def list_campaigns(uow: Reader, cursor: Cursor = None, limit: Limit = 100) -> PageOut[CampaignOut]:
    page = campaigns.list_campaigns(uow, cursor, limit)
    return PageOut(items=[CampaignOut.of(c) for c in page.items], next_cursor=page.next_cursor)


@router.get("/v1/campaigns/{campaign_id}")
def get_campaign(campaign_id: uuid.UUID, uow: Reader) -> CampaignOut:
    return CampaignOut.of(campaigns.get_campaign(uow, campaign_id))


@router.patch("/v1/campaigns/{campaign_id}")
def update_campaign(
    campaign_id: uuid.UUID, body: CampaignPatch, uow: CatalogManager
) -> CampaignOut:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if body.rewards is not None:
        changes["rewards"] = tuple(r.to_domain() for r in body.rewards)
    if body.caps is not None:
        changes["caps"] = Caps(**body.caps.model_dump())
    if body.trigger_types is not None:
        changes["trigger_types"] = tuple(body.trigger_types)
    return CampaignOut.of(campaigns.update_campaign(uow, campaign_id, changes))


@router.get("/v1/voucher-lists/{list_id}/campaigns")
def campaigns_of_list(list_id: uuid.UUID, uow: Reader) -> list[CampaignOut]:
    """The campaigns mapped to a list (those whose rewards give codes from it)."""
    return [CampaignOut.of(c) for c in campaigns.campaigns_of_list(uow, list_id)]


class SimulationIn(BaseModel):
    events: list[EventIn] | None = Field(None, max_length=1000, description="Sample events")
    since: Moment | None = Field(None, description="Or replay stored events from")
    until: Moment | None = None


class SimulationOut(BaseModel):
    rewarded: int
    cost_minor: int
    results: list[EventResultOut]


@router.post("/v1/campaigns/{campaign_id}/simulate")
def simulate(
    campaign_id: uuid.UUID, body: SimulationIn, container: ContainerDep, uow: CatalogManager
) -> SimulationOut:
    """What the campaign would do with these events; nothing is stored or changed."""
    sample = [e.to_domain() for e in body.events] if body.events is not None else None
    outcomes = campaigns.simulate(
        container.rewards, uow, campaign_id, sample, body.since, body.until
    )
    results = [outcome_out(o) for o in outcomes if o.rewards]
    cost = sum(r.cost_minor for o in outcomes for r in o.rewards)
    return SimulationOut(rewarded=len(results), cost_minor=cost, results=results)


class AggregateIO(BaseModel):
    name: str = Field(examples=["data_mb_month"])
    event_type: str = Field(examples=["usage.data"])
    function: Function
    window: Window
    attribute: str | None = Field(None, examples=["mb"])
    days: int | None = Field(None, description="rolling_days only")


@router.post("/v1/aggregates", status_code=status.HTTP_201_CREATED)
def define_aggregate(body: AggregateIO, uow: CatalogManager) -> AggregateIO:
    campaigns.define_aggregate(uow, AggregateDefinition(**body.model_dump()))
    return body


@router.get("/v1/aggregates")
def list_aggregates(uow: Reader) -> list[AggregateIO]:
    return [
        AggregateIO(
            name=d.name, event_type=d.event_type, function=d.function, window=d.window,
            attribute=d.attribute, days=d.days,
        )
        for d in campaigns.list_aggregates(uow)
    ]  # fmt: skip


class SettlementRow(BaseModel):
    partner: str
    period: str
    currency: str
    events: int = Field(description="rewarded events with a reward standing, each once")
    events_reversed: int = Field(description="rewarded events whose every reward was reversed")
    rewards: int = Field(description="reward rows standing (an event may carry several)")
    amount_minor: int
    reversed: int = Field(description="reward rows reversed")


@router.get("/v1/settlement")
def get_settlement(
    uow: ListReportReader,
    since: Moment,
    until: Moment,
    partner: str | None = None,
    period: Literal["day", "month"] = "day",
) -> list[SettlementRow]:
    """Rewards funded by each partner by period, as of now: rewarded events (each once,
    however many rewards it carried), how many of them were reversed, and the amounts. A
    partner key sees the partners of its lists only."""
    return [
        SettlementRow(**row) for row in campaigns.settlement(uow, partner, since, until, period)
    ]


class ReverseIn(BaseModel):
    reason: str | None = Field(None, max_length=200)
    reverse_redemption: bool = Field(
        False,
        description="For a reward that issued a voucher which has been redeemed: reverse that "
        "redemption too (its buckets taken back) and close the voucher, in the same "
        "transaction. Without it such a reversal is refused (409 voucher_redeemed).",
    )


@router.post("/v1/rewards/{reward_id}/reverse")
def reverse_reward(
    reward_id: uuid.UUID, body: ReverseIn, uow: SubscriberManager, container: ContainerDep
) -> dict[str, Any]:
    """Undoes a reward. An issued voucher is closed when unused; a redeemed one refuses the
    reversal unless `reverse_redemption` (every role that may reverse rewards may also
    operate vouchers)."""
    row = campaigns.reverse_reward(
        uow,
        reward_id,
        body.reason,
        reverse_redemption=body.reverse_redemption,
        secret=container.code_secret,
        policy=container.bar_policy,
    )
    return {
        "id": str(row["id"]),
        "status": row["status"],
        "reversed_at": row["reversed_at"],
        "campaign_id": str(row["campaign_id"]),
        "voucher": row["voucher"],
    }
