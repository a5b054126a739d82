"""A host operator's brands: its admin creates, suspends and resumes them; its readers list
them and their counts. A brand's own records are never reachable from here."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tessera.adapters.db.repositories.brands import BrandCounts
from tessera.domain.tenants import Tenant
from tessera.entrypoints.http.deps import BrandManager, GroupReader
from tessera.entrypoints.http.keys import KeyOut, NewKeyOut
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import brands

router = APIRouter(prefix="/v1/brands", tags=["brands"])


class BrandIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="Unique across the store")


class BrandOut(BaseModel):
    id: uuid.UUID
    name: str
    host_id: uuid.UUID = Field(description="The host's tenant id (a brand may share with it)")
    created_at: datetime
    suspended_at: datetime | None

    @classmethod
    def of(cls, brand: Tenant) -> BrandOut:
        assert brand.host_id is not None
        return cls(
            id=brand.id,
            host_id=brand.host_id,
            name=brand.name,
            created_at=brand.created_at,
            suspended_at=brand.suspended_at,
        )


class NewBrandOut(BrandOut):
    admin_key: NewKeyOut = Field(description="The brand's first admin key, shown only here")


class BrandCountsOut(BaseModel):
    brand_id: uuid.UUID
    name: str
    suspended: bool
    vouchers: int
    vouchers_used: int
    redemptions: int = Field(description="Uses at the brand's points of sale")

    @classmethod
    def of(cls, counts: BrandCounts) -> BrandCountsOut:
        return cls(
            brand_id=counts.brand_id,
            name=counts.name,
            suspended=counts.suspended,
            vouchers=counts.vouchers,
            vouchers_used=counts.vouchers_used,
            redemptions=counts.redemptions,
        )


class GroupReportOut(BaseModel):
    items: list[BrandCountsOut]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_brand(body: BrandIn, uow: BrandManager) -> NewBrandOut:
    """A brand of the caller's tenant (a host: a brand hosts none, 409 brand_cannot_host)."""
    brand, key, plain = brands.create_brand(uow, body.name)
    return NewBrandOut(
        **BrandOut.of(brand).model_dump(),
        admin_key=NewKeyOut(**KeyOut.of(key).model_dump(), key=plain),
    )


@router.get("")
def list_brands(uow: GroupReader, cursor: Cursor = None, limit: Limit = 100) -> PageOut[BrandOut]:
    page = brands.list_brands(uow, cursor, limit)
    return PageOut(items=[BrandOut.of(b) for b in page.items], next_cursor=page.next_cursor)


@router.get("/report")
def group_report(uow: GroupReader) -> GroupReportOut:
    """Counts per brand: vouchers, used vouchers, redemptions at the brand's points of sale."""
    return GroupReportOut(items=[BrandCountsOut.of(c) for c in brands.group_report(uow)])


@router.get("/{brand_id}")
def get_brand(brand_id: uuid.UUID, uow: GroupReader) -> BrandOut:
    return BrandOut.of(brands.get_brand(uow, brand_id))


@router.post("/{brand_id}/suspend")
def suspend_brand(brand_id: uuid.UUID, uow: BrandManager) -> BrandOut:
    """The brand's keys are refused (401 tenant_suspended) until it is resumed."""
    return BrandOut.of(brands.suspend_brand(uow, brand_id))


@router.post("/{brand_id}/resume")
def resume_brand(brand_id: uuid.UUID, uow: BrandManager) -> BrandOut:
    return BrandOut.of(brands.resume_brand(uow, brand_id))
