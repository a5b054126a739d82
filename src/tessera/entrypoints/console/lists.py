"""Partner voucher lists: the lists with their utilization, a form to make one, a list's page
with its uploads, mapped campaigns and status, and a CSV upload (or top-up) whose row-by-row
report is shown at once. The upload runs the API's own use case on the spooled file."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from tessera.domain.errors import Invalid
from tessera.domain.lists import ListStatus
from tessera.domain.roles import Permission
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    Signed,
    SignedIn,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import campaigns, voucher_lists
from tessera.services.list_upload import upload_codes

router = APIRouter(prefix=f"{PREFIX}/lists", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/lists", "Partner lists", "read")]


def _index(
    request: Request, signed: Signed, *, status_code: int = 200, cursor: str | None = None,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    read = signed.uow(Permission.READ)
    return render(
        request, "lists.html", signed, status_code=status_code,
        page=voucher_lists.list_lists(read, cursor=cursor, limit=50),
        may_manage=signed.can(Permission.MANAGE_CATALOG),
        errors=errors or {}, values=values or {},
    )  # fmt: skip


@router.get("")
def list_index(request: Request, signed: SignedIn, cursor: str | None = None) -> Response:
    return _index(request, signed, cursor=cursor)


@router.post("")
def create_list(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    names = ("partner", "name", "description", "low_stock_percent", "ends_at")
    body = {n: posted.text(n) for n in names if posted.text(n)}
    try:
        created = voucher_lists.create_list(voucher_lists.ListIn(**body), uow)
    except FORM_ERRORS as exc:
        return _index(
            request, signed, status_code=422, errors=field_errors(exc), values=posted.values
        )
    return redirect(f"{PREFIX}/lists/{created.id}", done="list created")


def _page(
    request: Request, signed: Signed, list_id: uuid.UUID, *, status_code: int = 200,
    **context: Any,
) -> Response:  # fmt: skip
    read = signed.uow(Permission.READ)
    found = voucher_lists.get_list(list_id, read)
    return render(
        request, "list.html", signed, status_code=status_code, vlist=found,
        uploads=voucher_lists.list_uploads(list_id, read, limit=20).items,
        mapped=campaigns.campaigns_of_list(list_id, read),
        statuses=[s.value for s in ListStatus if s.value != "expired"],
        may_manage=signed.can(Permission.MANAGE_CATALOG),
        done=request.query_params.get("done"), **context,
    )  # fmt: skip


@router.get("/{list_id}")
def list_page(request: Request, list_id: uuid.UUID, signed: SignedIn) -> Response:
    return _page(request, signed, list_id)


@router.post("/{list_id}/codes")
async def upload(request: Request, list_id: uuid.UUID, posted: Form) -> Response:
    """A CSV file from the form (spooled to disk by the form parser), uploaded by the same
    use case as ``POST /v1/voucher-lists/{id}/codes``."""
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    file = posted.form.get("file")
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise Invalid("file", "choose a CSV file with a code column")
        report = await run_in_threadpool(upload_codes, uow, list_id, file.file, file.filename)
    except FORM_ERRORS as exc:
        errors = field_errors(exc)
        return await run_in_threadpool(
            lambda: _page(request, signed, list_id, status_code=422, errors=errors)
        )
    shown = voucher_lists.UploadReportOut.of(report)
    return await run_in_threadpool(lambda: _page(request, signed, list_id, report=shown))


@router.post("/{list_id}/status")
def change_status(request: Request, list_id: uuid.UUID, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    try:
        patch = voucher_lists.ListPatch(status=posted.text("status"))
        changed = voucher_lists.update_list(list_id, patch, uow)
    except FORM_ERRORS as exc:
        return _page(request, signed, list_id, status_code=422, errors=field_errors(exc))
    return redirect(f"{PREFIX}/lists/{list_id}", done=f"now {changed.status.value}")
