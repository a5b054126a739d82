"""Subscribers (by external id: an MSISDN or customer id) and their wallets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from tessera.domain.wallet import ServiceState, Subscriber, Wallet
from tessera.entrypoints.http.deps import Reader, SubscriberManager, WalletReader
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import wallets

router = APIRouter(prefix="/v1/subscribers", tags=["subscribers"])


class SubscriberIn(BaseModel):
    attributes: dict[str, Any] | None = Field(
        None, description="Profile attributes used by campaign rules (tier, plan, language...)"
    )
    service_state: ServiceState | None = None


class SubscriberOut(BaseModel):
    id: uuid.UUID
    external_id: str
    attributes: dict[str, Any]
    service_state: ServiceState
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Subscriber) -> SubscriberOut:
        return cls(
            id=s.id,
            external_id=s.external_id,
            attributes=s.attributes,
            service_state=s.service_state,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class BucketOut(BaseModel):
    id: int
    balance_type: str
    amount: int
    expires_at: datetime | None


class WalletOut(BaseModel):
    subscriber: SubscriberOut
    totals: dict[str, int] = Field(description="Usable balance per balance type (unexpired)")
    buckets: list[BucketOut]

    @classmethod
    def of(cls, wallet: Wallet, now: datetime) -> WalletOut:
        return cls(
            subscriber=SubscriberOut.of(wallet.subscriber),
            totals=wallet.totals(now),
            buckets=[
                BucketOut(
                    id=b.id, balance_type=b.balance_type, amount=b.amount, expires_at=b.expires_at
                )
                for b in wallet.buckets
            ],
        )


class MovementIn(BaseModel):
    balance_type: str = Field(examples=["data_mb"])
    amount: int = Field(gt=0)
    expires_at: Moment | None = Field(None, description="Credits only")
    reason: str | None = Field(None, max_length=200)


@router.put("/{external_id}")
def upsert_subscriber(
    external_id: str, body: SubscriberIn, uow: SubscriberManager, response: Response
) -> SubscriberOut:
    subscriber, created = wallets.upsert_subscriber(
        uow, external_id, body.attributes, body.service_state
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return SubscriberOut.of(subscriber)


@router.get("")
def list_subscribers(
    uow: Reader, cursor: Cursor = None, limit: Limit = 100
) -> PageOut[SubscriberOut]:
    page = wallets.list_subscribers(uow, cursor, limit)
    return PageOut(items=[SubscriberOut.of(s) for s in page.items], next_cursor=page.next_cursor)


@router.get("/{external_id}")
def get_subscriber(external_id: str, uow: Reader) -> SubscriberOut:
    return SubscriberOut.of(wallets.get_wallet(uow, external_id).subscriber)


@router.get("/{external_id}/wallet")
def get_wallet(external_id: str, uow: WalletReader) -> WalletOut:
    """The subscriber's wallet: a pos key may read it, for the customer it serves."""
    return WalletOut.of(wallets.get_wallet(uow, external_id), uow.clock())


@router.post("/{external_id}/wallet/{direction}")
def move_balance(
    external_id: str,
    direction: Literal["credits", "debits"],
    body: MovementIn,
    uow: SubscriberManager,
) -> WalletOut:
    """A manual credit or debit by an operator; a debit never takes a balance below zero."""
    wallet = wallets.adjust_wallet(
        uow,
        external_id,
        "credit" if direction == "credits" else "debit",
        body.balance_type,
        body.amount,
        body.expires_at,
        body.reason,
    )
    return WalletOut.of(wallet, uow.clock())
