"""Voucher types: what a voucher is worth and what its redemption grants.

Types are not versioned: a redemption grants what the type says at that moment.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.domain.errors import Invalid
from tessera.domain.fulfilment import validate_parameter_names
from tessera.domain.lifecycle import MAX_DAYS
from tessera.domain.money import (
    PurchaseValue,
    validate_at_most,
    validate_currency,
    validate_minor_units,
)
from tessera.domain.tenants import validate_name

BALANCE_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True, slots=True)
class BucketTemplate:
    """One bucket granted on redemption, valid ``validity_days`` from then (None: no expiry)."""

    balance_type: str
    amount: int
    validity_days: int | None = None

    def validate(self, field: str) -> BucketTemplate:
        if not BALANCE_TYPE.match(self.balance_type):
            raise Invalid(
                f"{field}.balance_type",
                "must be lower-case letters, digits and underscores (e.g. data_mb, airtime)",
            )
        if self.amount <= 0:
            raise Invalid(f"{field}.amount", "must be a positive integer")
        validate_at_most(self.amount, f"{field}.amount")
        if self.validity_days is not None and self.validity_days <= 0:
            raise Invalid(f"{field}.validity_days", "must be a positive number of days or empty")
        if self.validity_days is not None:
            validate_at_most(self.validity_days, f"{field}.validity_days", MAX_DAYS)
        return self


@dataclass(frozen=True, slots=True)
class VoucherTypeSpec:
    """The editable fields of a voucher type, checked together."""

    name: str
    cost_minor: int
    currency: str
    lifecycle_id: uuid.UUID
    buckets: tuple[BucketTemplate, ...] = ()
    active: bool = True
    fulfilment_offer: str | None = None
    # What a point of sale may send with the offer (a personalised offer id, say)
    fulfilment_parameters: tuple[str, ...] = ()
    # Worth money at a point of sale (a percentage, a fixed amount or a stored value off a
    # purchase in ``currency``) instead of buckets or an offer
    purchase_value: PurchaseValue | None = None

    def validated(self) -> VoucherTypeSpec:
        validate_name(self.name)
        validate_minor_units(self.cost_minor, "cost_minor")
        validate_currency(self.currency)
        for index, bucket in enumerate(self.buckets):
            bucket.validate(f"buckets[{index}]")
        if self.fulfilment_offer is not None and not self.fulfilment_offer.strip():
            raise Invalid("fulfilment_offer", "must not be blank (omit it for a plain voucher)")
        validate_parameter_names(self.fulfilment_parameters, "fulfilment_parameters")
        if self.fulfilment_parameters and self.fulfilment_offer is None:
            raise Invalid("fulfilment_parameters", "only a type with a fulfilment_offer takes them")
        if self.purchase_value is not None:
            self.purchase_value.validated()
            if self.buckets or self.fulfilment_offer is not None:
                raise Invalid(
                    "purchase_value",
                    "a voucher worth money off a purchase grants no buckets and no offer",
                )
        return self


@dataclass(frozen=True, slots=True)
class VoucherType:
    id: uuid.UUID
    spec: VoucherTypeSpec
    created_at: datetime
    updated_at: datetime
