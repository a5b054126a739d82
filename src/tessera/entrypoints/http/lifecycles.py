"""Lifecycles: validity, grace, reservation hold, retention."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tessera.domain.lifecycle import Lifecycle, LifecycleRules, ValidityKind
from tessera.entrypoints.http.deps import CatalogManager, Reader
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import catalog

router = APIRouter(prefix="/v1/lifecycles", tags=["lifecycles"])


class LifecycleIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    validity_kind: ValidityKind
    expires_at: Moment | None = Field(None, description="For fixed_date only")
    validity_days: int | None = Field(None, gt=0, description="For from_activation / from_issue")
    grace_days: int = Field(0, ge=0)
    reservation_hold_seconds: int = Field(900, ge=0)
    retention_days: int = Field(365, ge=0)


class LifecyclePatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    validity_kind: ValidityKind | None = None
    expires_at: Moment | None = Field(None, description="For fixed_date only; null clears it")
    validity_days: int | None = Field(
        None, gt=0, description="For from_activation / from_issue; null clears it"
    )
    grace_days: int | None = Field(None, ge=0)
    reservation_hold_seconds: int | None = Field(None, ge=0)
    retention_days: int | None = Field(None, ge=0)


class LifecycleOut(BaseModel):
    id: uuid.UUID
    name: str
    validity_kind: ValidityKind
    expires_at: datetime | None
    validity_days: int | None
    grace_days: int
    reservation_hold_seconds: int
    retention_days: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, lc: Lifecycle) -> LifecycleOut:
        r = lc.rules
        return cls(
            id=lc.id,
            name=lc.name,
            validity_kind=r.validity_kind,
            expires_at=r.expires_at,
            validity_days=r.validity_days,
            grace_days=r.grace_days,
            reservation_hold_seconds=r.reservation_hold_seconds,
            retention_days=r.retention_days,
            created_at=lc.created_at,
            updated_at=lc.updated_at,
        )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_lifecycle(body: LifecycleIn, uow: CatalogManager) -> LifecycleOut:
    rules = LifecycleRules(**body.model_dump(exclude={"name"}))
    return LifecycleOut.of(catalog.create_lifecycle(uow, body.name, rules))


@router.get("")
def list_lifecycles(
    uow: Reader, cursor: Cursor = None, limit: Limit = 100
) -> PageOut[LifecycleOut]:
    page = catalog.list_lifecycles(uow, cursor, limit)
    return PageOut(items=[LifecycleOut.of(x) for x in page.items], next_cursor=page.next_cursor)


@router.get("/{lifecycle_id}")
def get_lifecycle(lifecycle_id: uuid.UUID, uow: Reader) -> LifecycleOut:
    return LifecycleOut.of(catalog.get_lifecycle(uow, lifecycle_id))


@router.patch("/{lifecycle_id}")
def update_lifecycle(
    lifecycle_id: uuid.UUID, body: LifecyclePatch, uow: CatalogManager
) -> LifecycleOut:
    """Changes apply to every voucher that uses this lifecycle."""
    changes = body.model_dump(exclude_unset=True)
    return LifecycleOut.of(catalog.update_lifecycle(uow, lifecycle_id, changes))
