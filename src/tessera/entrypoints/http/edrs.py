"""EDRs: the append-only record of every change, filtered and paged."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.domain.edr import Edr
from tessera.entrypoints.http.deps import Reader
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import edr_seal
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


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export_sealed(uow: Reader) -> StreamingResponse:
    """Every EDR of the tenant with its sealed blocks, as JSON lines: each block's EDRs
    (``{"edr": ...}``), then the block (``{"block": ...}``: range, entries, previous hash,
    hash); the EDRs not yet sealed last. ``tessera edrs verify-file`` checks such a file
    with nothing but the file."""
    return StreamingResponse(
        edr_seal.export_sealed(uow),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="edrs-sealed.jsonl"'},
    )


class VerificationOut(BaseModel):
    ok: bool
    blocks: int
    sealed: int
    unsealed: int
    chain_head: str
    breach: str | None
    block: int | None
    edr_id: int | None
    reason: str | None


@router.get("/verify")
def verify(uow: Reader) -> VerificationOut:
    """Checks every sealed block against the EDRs stored now; names the first EDR that
    was changed, removed or inserted (``ok`` false)."""
    r = edr_seal.verify_tenant(uow)
    f = r.first
    return VerificationOut(
        ok=r.ok,
        blocks=r.blocks,
        sealed=r.sealed,
        unsealed=r.unsealed,
        chain_head=r.chain_head,
        breach=None if f is None else f.breach.value,
        block=None if f is None else f.block_seq,
        edr_id=None if f is None else f.edr_id,
        reason=None if f is None else f.describe(),
    )
