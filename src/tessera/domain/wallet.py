"""Subscribers and their wallets of buckets.

Each credit is its own bucket row, so that a reversal can take back exactly what one
redemption granted, and is refused once that bucket has been spent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tessera.domain.catalog import BALANCE_TYPE
from tessera.domain.errors import Conflict, Invalid
from tessera.domain.money import validate_at_most


class ServiceState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    BARRED = "barred"
    TERMINATED = "terminated"


class SubscriberInactive(Conflict):
    """A terminated subscriber's line is gone: nothing is redeemed into its wallet."""

    code = "subscriber_inactive"

    def __init__(self, external_id: str) -> None:
        super().__init__(f"subscriber {external_id} is terminated: nothing can be redeemed for it")


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: uuid.UUID
    external_id: str
    attributes: dict[str, Any]
    service_state: ServiceState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Bucket:
    id: int
    balance_type: str
    amount: int
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BucketGrant:
    """A bucket a redemption credits, with the id drawn for it before it is written."""

    bucket_id: int
    balance_type: str
    amount: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Wallet:
    subscriber: Subscriber
    buckets: list[Bucket] = field(default_factory=list)

    def totals(self, now: datetime) -> dict[str, int]:
        """Usable balance per type: expired and empty buckets count for nothing."""
        sums: dict[str, int] = {}
        for bucket in self.buckets:
            if bucket.expires_at is None or bucket.expires_at > now:
                sums[bucket.balance_type] = sums.get(bucket.balance_type, 0) + bucket.amount
        return sums


def validate_external_id(external_id: str) -> str:
    cleaned = external_id.strip()
    if not cleaned:
        raise Invalid("external_id", "must not be empty (an MSISDN or customer id)")
    if len(cleaned) > 64:
        raise Invalid("external_id", "must be at most 64 characters")
    return cleaned


def validate_movement(balance_type: str, amount: int) -> None:
    if not BALANCE_TYPE.match(balance_type):
        raise Invalid("balance_type", "must be lower-case letters, digits and underscores")
    if amount <= 0:
        raise Invalid("amount", "must be a positive integer")
    validate_at_most(amount, "amount")
