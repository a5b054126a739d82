"""EDRs: the append-only record of every change, filtered and paged."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.domain.edr import Edr
from tessera.entrypoints.http.deps import Reader
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services.edrs import list_edrs

router = APIRouter(prefix="/v1/edrs", tags=["edrs"])


class EdrOut(BaseModel):
    id: int
    occurred_at: datetime
    actor_key_id: uuid.UUID | None
    operation: str
    subject_type: str
    subject_id: str
    status_before: str | None
    status_after: str | None
    amount_minor: int | None
    currency: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, e: Edr) -> EdrOut:
        return cls(
            id=e.id,
            occurred_at=e.occurred_at,
            actor_key_id=e.actor_key_id,
            operation=e.operation,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            status_before=e.status_before,
            status_after=e.status_after,
            amount_minor=e.amount_minor,
            currency=e.currency,
            details=e.details,
        )


@router.get("")
def get_edrs(
    uow: Reader,
    operation: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[EdrOut]:
    f = EdrFilter(operation, subject_type, subject_id, since, until)
    page = list_edrs(uow, f, cursor, limit)
    return PageOut(items=[EdrOut.of(e) for e in page.items], next_cursor=page.next_cursor)
