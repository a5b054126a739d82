"""Lifecycles: how long a voucher is valid, its grace period, reservation hold and retention.

A voucher keeps the lifecycle it got at creation; editing the lifecycle itself changes the
rules for every voucher that uses it, which is why expiry is computed here from the lifecycle
as it is now rather than stored on each voucher.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tessera.domain.errors import Invalid

MAX_DAYS = 36_500  # a hundred years: beyond that, date arithmetic overflows
MAX_HOLD_SECONDS = 366 * 24 * 3600


class ValidityKind(StrEnum):
    FIXED_DATE = "fixed_date"  # every voucher expires at ``expires_at``
    FROM_ACTIVATION = "from_activation"  # ``validity_days`` after the voucher became available
    FROM_ISSUE = "from_issue"  # ``validity_days`` after the voucher was generated or issued


@dataclass(frozen=True, slots=True)
class LifecycleRules:
    validity_kind: ValidityKind
    expires_at: datetime | None = None
    validity_days: int | None = None
    grace_days: int = 0
    reservation_hold_seconds: int = 900
    retention_days: int = 365

    def __post_init__(self) -> None:
        if self.validity_kind is ValidityKind.FIXED_DATE:
            if self.expires_at is None:
                raise Invalid("expires_at", "is required when validity_kind is fixed_date")
            if self.validity_days is not None:
                raise Invalid("validity_days", "must be empty when validity_kind is fixed_date")
        else:
            if self.validity_days is None or self.validity_days <= 0:
                raise Invalid(
                    "validity_days", f"must be a positive number of days for {self.validity_kind}"
                )
            if self.expires_at is not None:
                raise Invalid(
                    "expires_at", f"must be empty when validity_kind is {self.validity_kind}"
                )
        if self.grace_days < 0:
            raise Invalid("grace_days", "must be zero or more")
        if self.reservation_hold_seconds < 0:
            raise Invalid("reservation_hold_seconds", "must be zero or more (0: no reservations)")
        if self.retention_days < 0:
            raise Invalid("retention_days", "must be zero or more")
        for name, limit in (
            ("validity_days", MAX_DAYS),
            ("grace_days", MAX_DAYS),
            ("retention_days", MAX_DAYS),
            ("reservation_hold_seconds", MAX_HOLD_SECONDS),
        ):
            value = getattr(self, name)
            if value is not None and value > limit:
                raise Invalid(name, f"must be at most {limit}")

    def expiry(self, issued_at: datetime, activated_at: datetime | None) -> datetime | None:
        """When a voucher stops being usable; None while a from-activation voucher is pending."""
        if self.validity_kind is ValidityKind.FIXED_DATE:
            return self.expires_at
        assert self.validity_days is not None
        start = issued_at if self.validity_kind is ValidityKind.FROM_ISSUE else activated_at
        return None if start is None else start + timedelta(days=self.validity_days)

    @property
    def grace(self) -> timedelta:
        return timedelta(days=self.grace_days)

    @property
    def hold(self) -> timedelta:
        return timedelta(seconds=self.reservation_hold_seconds)

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)


@dataclass(frozen=True, slots=True)
class Lifecycle:
    id: uuid.UUID
    name: str
    rules: LifecycleRules
    created_at: datetime
    updated_at: datetime
