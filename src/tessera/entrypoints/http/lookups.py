"""Customer care's lookups: vouchers by subscriber, status, type, batch, last four characters
or serial range; a subscriber's history and aggregates; rewards. Read-only, cursor-paged."""
# No "from __future__ import annotations": FastAPI reads the Query annotations at definition.

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tessera.domain.care import (
    AggregateReading,
    CapReading,
    HistoryEntry,
    HistoryKind,
    HistoryQuery,
    RewardQuery,
    RewardView,
    VoucherLookup,
    VoucherQuery,
)
from tessera.domain.money import MAX_AMOUNT
from tessera.domain.statuses import VoucherStatus
from tessera.entrypoints.http.deps import Reader
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.entrypoints.http.vouchers import VoucherOut
from tessera.services import care

router = APIRouter(tags=["customer care"])

SerialQ = Annotated[int | None, Query(ge=1, le=MAX_AMOUNT)]
SubscriberQ = Annotated[
    str | None, Query(max_length=64, description="The subscriber's external id (MSISDN)")
]
SinceQ = Annotated[Moment | None, Query(description="From this time on (inclusive)")]
UntilQ = Annotated[Moment | None, Query(description="Before this time (exclusive)")]
Last4Q = Annotated[
    str | None,
    Query(max_length=20, description="The code's last four characters (spaces, dashes ok)"),
]


class FoundVoucherOut(VoucherOut):
    subscriber: str | None = Field(description="Who reserved or redeemed it, or was given it")

    @classmethod
    def found(cls, found: VoucherLookup) -> "FoundVoucherOut":
        base = VoucherOut.of(found.voucher, found.expires_at)
        return cls(**base.model_dump(), subscriber=found.subscriber)


def _vouchers(page: Any) -> PageOut[FoundVoucherOut]:
    return PageOut(
        items=[FoundVoucherOut.found(f) for f in page.items], next_cursor=page.next_cursor
    )


@router.get("/v1/vouchers")
def find_vouchers(
    uow: Reader,
    subscriber: SubscriberQ = None,
    status: VoucherStatus | None = None,
    voucher_type: Annotated[uuid.UUID | None, Query(alias="type")] = None,
    batch: uuid.UUID | None = None,
    last4: Last4Q = None,
    since: Annotated[
        Moment | None, Query(description="Status last changed at or after (redeemed, for used)")
    ] = None,
    until: Annotated[Moment | None, Query(description="Status last changed before")] = None,
    serial_from: SerialQ = None,
    serial_to: SerialQ = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[FoundVoucherOut]:
    """Vouchers matching every filter given, in serial order: "what did this number redeem?"
    is `?subscriber=...&status=used`."""
    query = VoucherQuery(
        subscriber, status, voucher_type, batch, last4, since, until, serial_from, serial_to
    )
    return _vouchers(care.find_vouchers(uow, query, cursor, limit))


@router.get("/v1/batches/{batch_id}/vouchers")
def batch_vouchers(
    batch_id: uuid.UUID,
    uow: Reader,
    serial_from: SerialQ = None,
    serial_to: SerialQ = None,
    status: VoucherStatus | None = None,
    last4: Last4Q = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[FoundVoucherOut]:
    """A batch's vouchers, or those of a serial range of it, in serial order."""
    query = VoucherQuery(status=status, last4=last4, serial_from=serial_from, serial_to=serial_to)
    return _vouchers(care.batch_vouchers(uow, batch_id, query, cursor, limit))


class HistoryEntryOut(BaseModel):
    id: int = Field(description="The EDR's id (GET /v1/edrs)")
    at: datetime
    kind: HistoryKind
    operation: str
    subject_type: str
    subject_id: str
    status_before: str | None
    status_after: str | None
    amount_minor: int | None
    currency: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, h: HistoryEntry) -> "HistoryEntryOut":
        return cls(**{name: getattr(h, name) for name in cls.model_fields})


@router.get("/v1/subscribers/{external_id}/history")
def subscriber_history(
    external_id: str,
    uow: Reader,
    kind: Annotated[list[HistoryKind] | None, Query(description="Only these kinds")] = None,
    since: SinceQ = None,
    until: UntilQ = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[HistoryEntryOut]:
    """Everything recorded about the subscriber, oldest first: redemptions, reversals,
    reservations, rewards, distributions, wrong codes and bars, wallet movements, profile and
    service state changes (each an EDR). A number nothing was recorded about has an empty
    history, as has another tenant's."""
    query = HistoryQuery(external_id, frozenset(kind or ()), since, until)
    page = care.subscriber_history(uow, query, cursor, limit)
    return PageOut(items=[HistoryEntryOut.of(h) for h in page.items], next_cursor=page.next_cursor)


class AggregateOut(BaseModel):
    name: str
    event_type: str
    function: str
    window: str
    days: int | None
    attribute: str | None
    value: float | int = Field(description="As a campaign condition reads `agg.<name>` at `at`")
    window_from: datetime
    window_until: datetime
    buckets: dict[str, float] = Field(description="The stored days or month that make it up")

    @classmethod
    def of(cls, a: AggregateReading) -> "AggregateOut":
        d = a.definition
        return cls(
            name=d.name,
            event_type=d.event_type,
            function=d.function.value,
            window=d.window.value,
            days=d.days,
            attribute=d.attribute,
            value=a.value,
            window_from=a.window_from,
            window_until=a.window_until,
            buckets=a.buckets,
        )


class CapOut(BaseModel):
    campaign_id: uuid.UUID
    campaign: str
    period: str = Field(description="`all`, a day or a month")
    count: int = Field(description="Rewards counted against the per-subscriber cap")
    per_subscriber: int | None
    current: bool = Field(description="The period a reward at `at` would count in")

    @classmethod
    def of(cls, c: CapReading) -> "CapOut":
        return cls(**{name: getattr(c, name) for name in cls.model_fields})


class AggregatesOut(BaseModel):
    subscriber: str
    at: datetime
    aggregates: list[AggregateOut]
    caps: list[CapOut]


@router.get("/v1/subscribers/{external_id}/aggregates")
def subscriber_aggregates(
    external_id: str,
    uow: Reader,
    at: Annotated[Moment | None, Query(description="As of this time; default now")] = None,
) -> AggregatesOut:
    """Why didn't I get my bonus? Every aggregate the tenant declares as a condition reads it
    for this subscriber (value and the window it covers), and each campaign's count against
    its per-subscriber cap."""
    moment, readings, caps = care.subscriber_aggregates(uow, external_id, at)
    return AggregatesOut(
        subscriber=external_id.strip(),
        at=moment,
        aggregates=[AggregateOut.of(a) for a in readings],
        caps=[CapOut.of(c) for c in caps],
    )


class RewardOut(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    event_id: str
    subscriber: str
    kind: str
    details: dict[str, Any] = Field(description="What was given; never a code")
    funding_partner: str | None
    cost_minor: int
    currency: str
    status: str
    rewarded_at: datetime
    reversed_at: datetime | None

    @classmethod
    def of(cls, rv: RewardView) -> "RewardOut":
        return cls(**{name: getattr(rv, name) for name in cls.model_fields})


@router.get("/v1/rewards")
def find_rewards(
    uow: Reader,
    campaign: uuid.UUID | None = None,
    subscriber: SubscriberQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[RewardOut]:
    """Rewards given, oldest first, by campaign and/or subscriber."""
    query = RewardQuery(campaign, subscriber, since, until)
    page = care.find_rewards(uow, query, cursor, limit)
    return PageOut(items=[RewardOut.of(rv) for rv in page.items], next_cursor=page.next_cursor)
