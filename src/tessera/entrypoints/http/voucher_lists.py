"""Partner voucher lists: metadata and status, CSV uploads, utilization, partner redemptions."""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from tessera.adapters.db.repositories.lists import UploadRecord
from tessera.domain.errors import Invalid
from tessera.domain.lists import (
    CODES_PER_SUBSCRIBER_MAX,
    ListSpec,
    ListStatus,
    Utilization,
    VoucherList,
)
from tessera.entrypoints.http.deps import (
    CatalogManager,
    ListReader,
    ListRedemptionReporter,
    Reader,
)
from tessera.entrypoints.http.moments import Moment
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import lists
from tessera.services.list_upload import UploadReport, upload_codes

router = APIRouter(prefix="/v1/voucher-lists", tags=["voucher lists"])

CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}
SPOOL_IN_MEMORY = 1 << 20  # larger uploads go to a temporary file, never whole into memory


class ListIn(BaseModel):
    partner: str = Field(min_length=1, max_length=200, examples=["Java House"])
    name: str = Field(min_length=1, max_length=200, examples=["Free coffee, November"])
    description: str = Field("", max_length=500)
    low_stock_percent: int = Field(80, ge=1, le=100, description="Alert when issued/uploaded ≥")
    ends_at: Moment | None = Field(None, description="The list expires by itself then")
    codes_per_subscriber: int = Field(
        1,
        ge=1,
        le=CODES_PER_SUBSCRIBER_MAX,
        description="A distribution gives one subscriber at most this many codes of the list; "
        "one at the cap is answered the code given last (200, already_given)",
    )


class ListPatch(BaseModel):
    partner: str | None = Field(None, min_length=1, max_length=200)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=500, description="null clears it")
    low_stock_percent: int | None = Field(None, ge=1, le=100)
    ends_at: Moment | None = Field(None, description="null clears it: the list does not end")
    codes_per_subscriber: int | None = Field(None, ge=1, le=CODES_PER_SUBSCRIBER_MAX)
    status: ListStatus | None = Field(None, description="active, paused or archived (final)")


class UtilizationOut(BaseModel):
    uploaded: int
    issued: int
    redeemed: int = Field(description="Reported redeemed by the partner")
    remaining: int
    issued_percent: float

    @classmethod
    def of(cls, u: Utilization) -> UtilizationOut:
        return cls(
            uploaded=u.uploaded,
            issued=u.issued,
            redeemed=u.redeemed,
            remaining=u.remaining,
            issued_percent=u.issued_percent,
        )


class ListOut(BaseModel):
    id: uuid.UUID
    partner: str
    name: str
    description: str
    status: ListStatus
    low_stock_percent: int
    codes_per_subscriber: int
    low_stock: bool = Field(description="The low-stock alert was raised and not yet re-armed")
    ends_at: datetime | None
    utilization: UtilizationOut
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, vl: VoucherList, now: datetime) -> ListOut:
        s = vl.spec
        return cls(
            id=vl.id,
            partner=s.partner,
            name=s.name,
            description=s.description,
            status=vl.status(now),
            low_stock_percent=s.low_stock_percent,
            codes_per_subscriber=s.codes_per_subscriber,
            low_stock=not vl.low_stock_armed,
            ends_at=s.ends_at,
            utilization=UtilizationOut.of(vl.utilization),
            created_at=vl.created_at,
            updated_at=vl.updated_at,
        )


class RowIssueOut(BaseModel):
    line: int
    kind: str
    reason: str


class UploadReportOut(BaseModel):
    upload_id: uuid.UUID
    list_id: uuid.UUID
    rows: int
    accepted: int
    duplicates_in_file: int
    duplicates_in_list: int
    invalid: int
    problems: list[RowIssueOut] = Field(description="Refused rows by line (the first 1000)")
    problems_truncated: bool
    utilization: UtilizationOut

    @classmethod
    def of(cls, r: UploadReport) -> UploadReportOut:
        assert r.utilization is not None
        return cls(
            upload_id=r.upload_id,
            list_id=r.list_id,
            rows=r.rows,
            accepted=r.accepted,
            duplicates_in_file=r.duplicates_in_file,
            duplicates_in_list=r.duplicates_in_list,
            invalid=r.invalid,
            problems=[RowIssueOut(line=p.line, kind=p.kind, reason=p.reason) for p in r.problems],
            problems_truncated=r.problems_truncated,
            utilization=UtilizationOut.of(r.utilization),
        )


class UploadOut(BaseModel):
    id: uuid.UUID
    filename: str | None
    rows: int
    accepted: int
    duplicates_in_file: int
    duplicates_in_list: int
    invalid: int
    created_at: datetime

    @classmethod
    def of(cls, u: UploadRecord) -> UploadOut:
        return cls(
            id=u.id,
            filename=u.filename,
            rows=u.rows,
            accepted=u.accepted,
            duplicates_in_file=u.duplicates_in_file,
            duplicates_in_list=u.duplicates_in_list,
            invalid=u.invalid,
            created_at=u.created_at,
        )


class RedemptionIn(BaseModel):
    codes: list[str] = Field(min_length=1, max_length=10_000)
    redeemed_at: Moment | None = Field(None, description="When they were used (now)")


class RedemptionReportOut(BaseModel):
    received: int
    redeemed: int
    already_redeemed: int
    refused: int
    problems: list[RowIssueOut]
    problems_truncated: bool
    utilization: UtilizationOut

    @classmethod
    def of(cls, r: lists.RedemptionReport) -> RedemptionReportOut:
        assert r.utilization is not None
        return cls(
            received=r.received,
            redeemed=r.redeemed,
            already_redeemed=r.already_redeemed,
            refused=r.refused,
            problems=[RowIssueOut(line=p.line, kind=p.kind, reason=p.reason) for p in r.problems],
            problems_truncated=r.problems_truncated,
            utilization=UtilizationOut.of(r.utilization),
        )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_list(body: ListIn, uow: CatalogManager) -> ListOut:
    vl = lists.create_list(uow, ListSpec(**body.model_dump()))
    return ListOut.of(vl, uow.clock())


@router.get("")
def list_lists(
    uow: Reader,
    status: ListStatus | None = None,
    partner: str | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[ListOut]:
    page = lists.list_lists(uow, cursor, limit, status, partner)
    now = uow.clock()
    return PageOut(items=[ListOut.of(x, now) for x in page.items], next_cursor=page.next_cursor)


@router.get("/{list_id}")
def get_list(list_id: uuid.UUID, uow: ListReader) -> ListOut:
    return ListOut.of(lists.get_list(uow, list_id), uow.clock())


@router.patch("/{list_id}")
def update_list(list_id: uuid.UUID, body: ListPatch, uow: CatalogManager) -> ListOut:
    changes = body.model_dump(exclude_unset=True)
    return ListOut.of(lists.update_list(uow, list_id, changes), uow.clock())


async def _spooled(request: Request) -> Any:
    """The request body, streamed into a temporary file: a slow client never holds a
    database transaction open, and a large file never sits whole in memory."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/"):
        raise Invalid(
            "file",
            "send the CSV file itself as the request body (Content-Type: text/csv), not a form",
            code="csv_not_raw",
        )
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    async for chunk in request.stream():
        spool.write(chunk)
    spool.seek(0)
    return spool


@router.post("/{list_id}/codes", openapi_extra=CSV_BODY)
async def upload(
    list_id: uuid.UUID,
    request: Request,
    uow: CatalogManager,
    filename: str | None = Query(None, max_length=300, description="Kept with the upload"),
) -> UploadReportOut:
    """Upload (or top up) codes as CSV: a header naming `code` and optionally `description`
    and `expiry` (a date, or a time with offset). Good rows go in; the answer lists the others
    by line. A file that is not CSV, or has no code column, is refused whole."""
    with await _spooled(request) as spool:
        report = await run_in_threadpool(upload_codes, uow, list_id, spool, filename)
    return UploadReportOut.of(report)


@router.get("/{list_id}/uploads")
def list_uploads(
    list_id: uuid.UUID, uow: Reader, cursor: Cursor = None, limit: Limit = 100
) -> PageOut[UploadOut]:
    page = lists.list_uploads(uow, list_id, cursor, limit)
    return PageOut(items=[UploadOut.of(u) for u in page.items], next_cursor=page.next_cursor)


@router.post("/{list_id}/redemptions")
def report_redemptions(
    list_id: uuid.UUID, body: RedemptionIn, uow: ListRedemptionReporter
) -> RedemptionReportOut:
    """The partner reports codes used on its side (idempotent: a repeat counts once)."""
    at = body.redeemed_at or uow.clock()
    rows = ((index + 1, code) for index, code in enumerate(body.codes))
    return RedemptionReportOut.of(lists.report_redemptions(uow, list_id, rows, at))


@router.post("/{list_id}/redemptions/csv", openapi_extra=CSV_BODY)
async def report_redemptions_csv(
    list_id: uuid.UUID,
    request: Request,
    uow: ListRedemptionReporter,
    redeemed_at: Moment | None = Query(None, description="When they were used (now)"),
) -> RedemptionReportOut:
    """The same as a CSV file with a `code` column; problems are named by file line."""
    at = redeemed_at or uow.clock()
    with await _spooled(request) as spool:
        rows = lists.redemption_rows(spool)
        report = await run_in_threadpool(lists.report_redemptions, uow, list_id, rows, at)
    return RedemptionReportOut.of(report)
