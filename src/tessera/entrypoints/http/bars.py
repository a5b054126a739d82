"""Bars on wrong codes: who is barred now, and lifting a bar (operators)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from tessera.adapters.db.repositories.attempts import Bar
from tessera.entrypoints.http.deps import VoucherOperator
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import bars

router = APIRouter(prefix="/v1/bars", tags=["bars"])

Scope = Annotated[
    str,
    Path(
        min_length=5,
        max_length=100,
        description="key:<key id> or subscriber:<external id>, as listed",
    ),
]


class BarOut(BaseModel):
    scope: str
    kind: str = Field(description="key (a till or system) or subscriber")
    subject: str = Field(description="The key's id or the subscriber's external id")
    barred_until: datetime

    @classmethod
    def of(cls, bar: Bar) -> BarOut:
        kind, _, subject = bar.scope.partition(":")
        return cls(scope=bar.scope, kind=kind, subject=subject, barred_until=bar.barred_until)


class LiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=200, description="Why, for the record")


@router.get("")
def list_bars(uow: VoucherOperator, cursor: Cursor = None, limit: Limit = 100) -> PageOut[BarOut]:
    """Subscribers and keys barred for wrong codes now."""
    page = bars.list_bars(uow, cursor, limit)
    return PageOut(items=[BarOut.of(b) for b in page.items], next_cursor=page.next_cursor)


@router.post("/{scope}/lift")
def lift_bar(scope: Scope, uow: VoucherOperator, body: LiftIn | None = None) -> BarOut:
    """Ends the bar and its count of wrong codes (EDR ``voucher.bar_lift``)."""
    return BarOut.of(bars.lift_bar(uow, scope, body.reason if body else None))
