"""Batches: create (202, generated in the background), read with progress and voucher
counts, operate on the whole batch or a serial range, fetch the print file once."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tessera.domain.batches import MAX_BATCH, Batch, BatchOperation, BatchRequest
from tessera.domain.codes import CodeFormat
from tessera.domain.money import MAX_AMOUNT
from tessera.entrypoints.http.background import Background
from tessera.entrypoints.http.deps import CatalogManager, ContainerDep, Reader
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import batches

router = APIRouter(prefix="/v1/batches", tags=["batches"])


class CodeFormatIO(BaseModel):
    length: int = Field(12, description="Random symbols, without prefix and check character")
    alphabet: Literal["digits", "alphanumeric"] = "digits"
    prefix: str = ""
    check_character: bool = True


class BatchIn(BaseModel):
    voucher_type_id: uuid.UUID
    count: int = Field(ge=1, le=MAX_BATCH)
    code_format: CodeFormatIO = Field(default_factory=CodeFormatIO)
    include_cost: bool = Field(False, description="Add cost and currency to the print file")


class BatchOut(BaseModel):
    id: uuid.UUID
    voucher_type_id: uuid.UUID
    lifecycle_id: uuid.UUID
    state: str
    requested: int
    generated: int
    code_format: CodeFormatIO
    serial_first: int
    serial_last: int
    include_cost: bool
    print_file_available: bool
    print_file_sha256: str | None
    print_file_fetched_at: datetime | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    voucher_counts: dict[str, int] | None = Field(
        None, description="Vouchers by status (in the single-batch read)"
    )

    @classmethod
    def of(cls, b: Batch, counts: dict[str, int] | None = None) -> BatchOut:
        return cls(
            id=b.id,
            voucher_type_id=b.voucher_type_id,
            lifecycle_id=b.lifecycle_id,
            state=b.state.value,
            requested=b.requested,
            generated=b.generated,
            code_format=CodeFormatIO(**b.code_format.to_dict()),
            serial_first=b.serials.first,
            serial_last=b.serials.last,
            include_cost=b.include_cost,
            print_file_available=b.print_file is not None and b.print_file_fetched_at is None,
            print_file_sha256=b.print_file_sha256,
            print_file_fetched_at=b.print_file_fetched_at,
            error=b.error,
            created_at=b.created_at,
            updated_at=b.updated_at,
            voucher_counts=counts,
        )


class RangeIn(BaseModel):
    serial_from: int | None = Field(
        None, ge=1, le=MAX_AMOUNT, description="First serial; default: the batch's"
    )
    serial_to: int | None = Field(
        None, ge=1, le=MAX_AMOUNT, description="Last serial; default: the batch's"
    )


class BatchChangeOut(BaseModel):
    batch: BatchOut
    operation: str
    serial_from: int
    serial_to: int
    count: int = Field(description="Vouchers whose status changed")


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_batch(
    body: BatchIn,
    uow: CatalogManager,
    container: ContainerDep,
    background: Background,
    response: Response,
) -> BatchOut:
    """Accepted at once; the vouchers are generated in the background (poll the batch)."""
    secret = container.code_secret  # refuse before anything is reserved
    fmt = CodeFormat(**body.code_format.model_dump())
    request = BatchRequest(body.voucher_type_id, body.count, fmt, body.include_cost)
    batch = batches.create_batch(uow, request, Path(container.settings.print_dir))
    batches.will_generate_here(batch.id)
    background.start(
        batches.generate_batch,
        container.uow(uow.tenant_id, uow.actor_key_id),
        batch.id,
        secret,
        chunk_size=container.settings.batch_chunk_size,
    )
    response.headers["Location"] = f"{router.prefix}/{batch.id}"
    return BatchOut.of(batch)


@router.get("")
def list_batches(uow: Reader, cursor: Cursor = None, limit: Limit = 100) -> PageOut[BatchOut]:
    page = batches.list_batches(uow, cursor, limit)
    return PageOut(items=[BatchOut.of(b) for b in page.items], next_cursor=page.next_cursor)


@router.get("/{batch_id}")
def get_batch(batch_id: uuid.UUID, uow: Reader) -> BatchOut:
    view = batches.get_batch(uow, batch_id)
    return BatchOut.of(view.batch, view.voucher_counts)


@router.post("/{batch_id}/{operation}")
def operate(
    batch_id: uuid.UUID,
    operation: BatchOperation,
    uow: CatalogManager,
    body: Annotated[RangeIn | None, Body()] = None,
) -> BatchChangeOut:
    """activate / unfreeze: pending vouchers become available; freeze: available vouchers
    go back to pending; cancel: vouchers not yet finished are closed, for good. On the whole
    batch, or on a serial range of it (``serial_from``, ``serial_to``)."""
    body = body or RangeIn()
    change = batches.operate(uow, batch_id, operation, body.serial_from, body.serial_to)
    return BatchChangeOut(
        batch=BatchOut.of(change.batch),
        operation=operation.value,
        serial_from=change.serials.first,
        serial_to=change.serials.last,
        count=change.count,
    )


@router.get(
    "/{batch_id}/print-file",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def print_file(batch_id: uuid.UUID, uow: CatalogManager) -> StreamingResponse:
    """The plain codes, once: the file is deleted as it is handed out (410 afterwards)."""
    chunks = batches.take_print_file(uow, batch_id)
    return StreamingResponse(
        chunks,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="batch-{batch_id}.csv"'},
    )
