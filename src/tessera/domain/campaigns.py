"""Campaigns: a trigger, a condition (CEL, kept as text and compiled by an adapter), a
schedule, a status, caps and rewards. Predicates are data; marketing changes them by
configuration."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from tessera.domain.catalog import BALANCE_TYPE
from tessera.domain.errors import Invalid
from tessera.domain.events import EVENT_TYPE
from tessera.domain.lifecycle import MAX_DAYS
from tessera.domain.money import MAX_AMOUNT, validate_at_most, validate_currency


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class RewardKind(StrEnum):
    CREDIT_BUCKET = "credit_bucket"
    ISSUE_VOUCHER = "issue_voucher"
    LIST_CODE = "list_code"


class CapPeriod(StrEnum):
    DAY = "day"
    MONTH = "month"
    CAMPAIGN = "campaign"  # over the campaign's whole life


@dataclass(frozen=True, slots=True)
class RewardSpec:
    kind: RewardKind
    balance_type: str | None = None  # credit_bucket
    amount: int | None = None  # credit_bucket
    validity_days: int | None = None  # credit_bucket
    voucher_type_id: uuid.UUID | None = None  # issue_voucher
    list_ids: tuple[uuid.UUID, ...] = ()  # list_code, in order of preference

    def validated(self, field: str) -> RewardSpec:
        if self.kind is RewardKind.CREDIT_BUCKET:
            if not self.balance_type or not BALANCE_TYPE.match(self.balance_type):
                raise Invalid(
                    f"{field}.balance_type", "is required: a balance type such as data_mb"
                )
            if not self.amount or self.amount <= 0:
                raise Invalid(f"{field}.amount", "must be a positive integer")
            validate_at_most(self.amount, f"{field}.amount")
            if self.validity_days is not None and self.validity_days <= 0:
                raise Invalid(f"{field}.validity_days", "must be a positive number of days")
            if self.validity_days is not None:
                validate_at_most(self.validity_days, f"{field}.validity_days", MAX_DAYS)
        elif self.kind is RewardKind.ISSUE_VOUCHER:
            if self.voucher_type_id is None:
                raise Invalid(f"{field}.voucher_type_id", "is required to issue a voucher")
        elif not self.list_ids:
            raise Invalid(f"{field}.list_ids", "must name at least one voucher list")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "balance_type": self.balance_type,
            "amount": self.amount,
            "validity_days": self.validity_days,
            "voucher_type_id": str(self.voucher_type_id) if self.voucher_type_id else None,
            "list_ids": [str(i) for i in self.list_ids],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RewardSpec:
        return cls(
            kind=RewardKind(data["kind"]),
            balance_type=data.get("balance_type"),
            amount=data.get("amount"),
            validity_days=data.get("validity_days"),
            voucher_type_id=uuid.UUID(data["voucher_type_id"])
            if data.get("voucher_type_id")
            else None,
            list_ids=tuple(uuid.UUID(i) for i in data.get("list_ids") or ()),
        )


@dataclass(frozen=True, slots=True)
class Caps:
    per_subscriber: int | None = None
    per_subscriber_period: CapPeriod = CapPeriod.CAMPAIGN
    total_rewards: int | None = None
    total_budget_minor: int | None = None

    def validated(self) -> Caps:
        for name in ("per_subscriber", "total_rewards", "total_budget_minor"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise Invalid(f"caps.{name}", "must be a positive integer or empty")
            if value is not None:
                validate_at_most(
                    value, f"caps.{name}", 2**31 - 1 if name == "per_subscriber" else MAX_AMOUNT
                )
        return self

    @property
    def limits_total(self) -> bool:
        """Only a campaign with a total cap or budget keeps (and locks) a shared counter."""
        return self.total_rewards is not None or self.total_budget_minor is not None

    def period_key(self, moment: datetime) -> str:
        if self.per_subscriber_period is CapPeriod.DAY:
            return moment.strftime("%Y-%m-%d")
        if self.per_subscriber_period is CapPeriod.MONTH:
            return moment.strftime("%Y-%m")
        return "all"


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    name: str
    trigger_types: tuple[str, ...]
    condition: str
    rewards: tuple[RewardSpec, ...]
    status: CampaignStatus = CampaignStatus.DRAFT
    priority: int = 100
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    caps: Caps = field(default_factory=Caps)
    currency: str = "XXX"
    funding_partner: str | None = None
    cost_per_reward_minor: int = 0

    def validated(self) -> CampaignSpec:
        if not self.name.strip():
            raise Invalid("name", "must not be empty")
        if not self.trigger_types:
            raise Invalid("trigger_types", "must list at least one event type")
        for i, t in enumerate(self.trigger_types):
            if not EVENT_TYPE.match(t):
                raise Invalid(f"trigger_types[{i}]", "must be an event type name")
        if not self.rewards:
            raise Invalid("rewards", "must list at least one reward")
        for i, reward in enumerate(self.rewards):
            reward.validated(f"rewards[{i}]")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise Invalid("ends_at", "must be after starts_at")
        if self.cost_per_reward_minor < 0:
            raise Invalid("cost_per_reward_minor", "must be zero or more")
        validate_at_most(self.cost_per_reward_minor, "cost_per_reward_minor")
        if abs(self.priority) > 1_000_000:
            raise Invalid("priority", "must be between -1000000 and 1000000")
        validate_currency(self.currency)
        if self.caps.total_budget_minor is not None and self.cost_per_reward_minor == 0:
            raise Invalid(
                "caps.total_budget_minor", "needs a cost_per_reward_minor to count against"
            )
        self.caps.validated()
        return self

    def is_live_always(self) -> bool:
        return self.status is CampaignStatus.ACTIVE and not self.starts_at and not self.ends_at

    def is_live(self, at: datetime) -> bool:
        if self.status is not CampaignStatus.ACTIVE:
            return False
        if self.starts_at and at < self.starts_at:
            return False
        return not (self.ends_at and at >= self.ends_at)


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    """What a campaign has done so far, as every read of it shows it (one source for the list,
    the single read and the answers to create and edit)."""

    rewards_issued: int = 0
    budget_spent_minor: int = 0
    failures: ConditionFailures | None = None


@dataclass(frozen=True, slots=True)
class ConditionFailures:
    """How often the condition failed while running (each failure counted as not matched),
    and the last one: the campaign's to fix, shown on it."""

    count: int
    last_message: str
    last_at: datetime
    in_a_row: int = 0  # since the last successful evaluation; the limit pauses the campaign


@dataclass(frozen=True, slots=True)
class FailureCount:
    """What one batch did to a campaign's failures: how many failed, the last reason, and
    its streak: ``in_a_row`` failures after the batch's last successful evaluation of the
    campaign if it had one (``reset``: the streak becomes that), else all of them (added)."""

    failures: int
    last_message: str
    in_a_row: int
    reset: bool


@dataclass(frozen=True, slots=True)
class Campaign:
    id: uuid.UUID
    version: int
    spec: CampaignSpec
    created_at: datetime
    updated_at: datetime
