"""Voucher types: what a voucher costs and what its redemption grants."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tessera.adapters.db.repositories.shares import Share
from tessera.domain.catalog import BucketTemplate, VoucherType, VoucherTypeSpec
from tessera.domain.money import PurchaseValue, ValueKind
from tessera.entrypoints.http.deps import CatalogManager, Reader
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import catalog, shares

router = APIRouter(prefix="/v1/voucher-types", tags=["voucher types"])


class BucketTemplateIO(BaseModel):
    balance_type: str = Field(examples=["data_mb"])
    amount: int
    validity_days: int | None = Field(None, description="Days from redemption; null: no expiry")


class PurchaseValueIO(BaseModel):
    """What the voucher takes off a purchase at a point of sale, in the type's currency."""

    kind: Literal["percentage", "fixed", "stored_value"] = Field(
        description="percentage: basis_points of the purchase, at most cap_minor; fixed: "
        "amount_minor off one purchase (never more than it); stored_value: amount_minor in "
        "all, spent over several purchases, the voucher available while some is left"
    )
    basis_points: int | None = Field(
        None, description="percentage only: hundredths of a percent (1500 = 15 %)"
    )
    cap_minor: int | None = Field(None, description="percentage only: the most one use takes")
    amount_minor: int | None = Field(None, description="fixed and stored_value: minor units")

    @classmethod
    def of(cls, value: PurchaseValue | None) -> PurchaseValueIO | None:
        if value is None:
            return None
        return cls(
            kind=value.kind.value,
            basis_points=value.basis_points,
            cap_minor=value.cap_minor,
            amount_minor=value.amount_minor,
        )

    def value(self) -> PurchaseValue:
        return PurchaseValue(
            ValueKind(self.kind), self.basis_points, self.cap_minor, self.amount_minor
        )


class VoucherTypeIn(BaseModel):
    name: str = Field(max_length=200)
    cost_minor: int = Field(description="Cost in minor units (cents); may be 0")
    currency: str = Field(description="ISO 4217 code", examples=["EUR"])
    lifecycle_id: uuid.UUID
    buckets: list[BucketTemplateIO] = Field(default_factory=list)
    active: bool = True
    fulfilment_offer: str | None = Field(None, max_length=200)
    fulfilment_parameters: list[str] = Field(
        default_factory=list,
        description="Names of the parameters a redemption may send with the offer (each a "
        "string of at most 100 characters in `offer_parameters`); at most 10",
    )
    purchase_value: PurchaseValueIO | None = Field(
        None,
        description="Worth money at a point of sale instead of buckets or an offer: the "
        "purchase is sent with validate, reserve, redeem and confirm",
    )


class VoucherTypePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    cost_minor: int | None = None
    currency: str | None = None
    lifecycle_id: uuid.UUID | None = None
    buckets: list[BucketTemplateIO] | None = Field(
        None, description="The bucket templates, all replaced; null or [] clears them"
    )
    active: bool | None = None
    fulfilment_offer: str | None = Field(
        None, max_length=200, description="Offer asked of the order system; null clears it"
    )
    fulfilment_parameters: list[str] | None = Field(
        None, description="The offer's parameter names, all replaced; null or [] clears them"
    )
    purchase_value: PurchaseValueIO | None = Field(
        None, description="What the voucher takes off a purchase; null clears it"
    )


class VoucherTypeOut(VoucherTypeIn):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, vt: VoucherType) -> VoucherTypeOut:
        s = vt.spec
        return cls(
            id=vt.id,
            name=s.name,
            cost_minor=s.cost_minor,
            currency=s.currency,
            lifecycle_id=s.lifecycle_id,
            buckets=[BucketTemplateIO(**vars_of(b)) for b in s.buckets],
            active=s.active,
            fulfilment_offer=s.fulfilment_offer,
            fulfilment_parameters=list(s.fulfilment_parameters),
            purchase_value=PurchaseValueIO.of(s.purchase_value),
            created_at=vt.created_at,
            updated_at=vt.updated_at,
        )


def vars_of(bucket: BucketTemplate) -> dict[str, object]:
    return {
        "balance_type": bucket.balance_type,
        "amount": bucket.amount,
        "validity_days": bucket.validity_days,
    }


def _templates(buckets: list[BucketTemplateIO]) -> tuple[BucketTemplate, ...]:
    return tuple(BucketTemplate(**b.model_dump()) for b in buckets)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_voucher_type(body: VoucherTypeIn, uow: CatalogManager) -> VoucherTypeOut:
    spec = VoucherTypeSpec(
        **{
            **body.model_dump(),
            "buckets": _templates(body.buckets),
            "fulfilment_parameters": tuple(body.fulfilment_parameters),
            "purchase_value": body.purchase_value.value() if body.purchase_value else None,
        }
    )
    return VoucherTypeOut.of(catalog.create_voucher_type(uow, spec))


@router.get("")
def list_voucher_types(
    uow: Reader, cursor: Cursor = None, limit: Limit = 100, active: bool | None = None
) -> PageOut[VoucherTypeOut]:
    page = catalog.list_voucher_types(uow, cursor, limit, active)
    return PageOut(items=[VoucherTypeOut.of(x) for x in page.items], next_cursor=page.next_cursor)


@router.get("/{type_id}")
def get_voucher_type(type_id: uuid.UUID, uow: Reader) -> VoucherTypeOut:
    return VoucherTypeOut.of(catalog.get_voucher_type(uow, type_id))


@router.patch("/{type_id}")
def update_voucher_type(
    type_id: uuid.UUID, body: VoucherTypePatch, uow: CatalogManager
) -> VoucherTypeOut:
    """Types are not versioned: later redemptions grant the new values."""
    changes = body.model_dump(exclude_unset=True)
    if "buckets" in changes:
        changes["buckets"] = _templates(body.buckets or [])
    if "fulfilment_parameters" in changes:
        changes["fulfilment_parameters"] = tuple(body.fulfilment_parameters or ())
    if "purchase_value" in changes:
        changes["purchase_value"] = body.purchase_value.value() if body.purchase_value else None
    return VoucherTypeOut.of(catalog.update_voucher_type(uow, type_id, changes))


class ShareOut(BaseModel):
    voucher_type_id: uuid.UUID
    brand_id: uuid.UUID
    created_at: datetime


class SharesOut(BaseModel):
    items: list[ShareOut]


def _share_out(share: Share) -> ShareOut:
    return ShareOut(
        voucher_type_id=share.voucher_type_id, brand_id=share.brand_id, created_at=share.created_at
    )


@router.put("/{type_id}/shares/{brand_id}")
def share_voucher_type(type_id: uuid.UUID, brand_id: uuid.UUID, uow: CatalogManager) -> ShareOut:
    """Share the type with another tenant of the group (the host or a brand): that brand's
    points of sale validate and redeem its codes, crediting their own subscribers."""
    return _share_out(shares.share_type(uow, type_id, brand_id))


@router.delete("/{type_id}/shares/{brand_id}", status_code=status.HTTP_204_NO_CONTENT)
def unshare_voucher_type(type_id: uuid.UUID, brand_id: uuid.UUID, uow: CatalogManager) -> None:
    shares.unshare_type(uow, type_id, brand_id)


@router.get("/{type_id}/shares")
def list_voucher_type_shares(type_id: uuid.UUID, uow: Reader) -> SharesOut:
    return SharesOut(items=[_share_out(s) for s in shares.shares_of(uow, type_id)])
