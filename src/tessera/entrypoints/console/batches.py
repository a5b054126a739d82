"""Batches: the list, a form to make one (generated in the background, its progress polled
by htmx), a batch's page with its voucher counts, the print file handed out once, and the
operations on the whole batch or a serial range (activate, freeze, unfreeze, cancel). All
through the API's route functions."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.batches import BatchOperation
from tessera.domain.errors import Invalid
from tessera.domain.roles import Permission
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    Signed,
    SignedIn,
    closed,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import batches, voucher_types

router = APIRouter(prefix=f"{PREFIX}/batches", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/batches", "Batches", "read")]


def _list(
    request: Request, signed: Signed, cursor: str | None, *, status_code: int = 200,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    read = signed.uow(Permission.READ)
    types = voucher_types.list_voucher_types(read, limit=500, active=True).items
    names = {t.id: t.name for t in voucher_types.list_voucher_types(read, limit=500).items}
    return render(
        request, "batches.html", signed, status_code=status_code,
        page=batches.list_batches(read, cursor=cursor, limit=50), names=names,
        type_options=[("", "choose one")] + [(str(t.id), t.name) for t in types],
        may_manage=signed.can(Permission.MANAGE_CATALOG),
        errors=errors or {}, values=values or {},
    )  # fmt: skip


@router.get("")
def batch_list(request: Request, signed: SignedIn, cursor: str | None = None) -> Response:
    return _list(request, signed, cursor)


@router.post("")
def create_batch(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    code_format: dict[str, Any] = {
        k: posted.text(f"code_format.{k}") for k in ("length", "alphabet", "prefix")
    }
    code_format = {k: v for k, v in code_format.items() if v}
    code_format["check_character"] = posted.text("code_format.check_character") == "on"
    body: dict[str, Any] = {
        k: posted.text(k) for k in ("voucher_type_id", "count") if posted.text(k)
    }
    try:
        created = batches.create_batch(
            batches.BatchIn(**body, code_format=code_format,
                            include_cost=posted.text("include_cost") == "on"),
            uow, signed.container, request.app.state.background, Response(),
        )  # fmt: skip
    except FORM_ERRORS as exc:
        errors = field_errors(exc)
        return _list(request, signed, None, status_code=422, errors=errors, values=posted.values)
    return redirect(f"{PREFIX}/batches/{created.id}")


def _batch(signed: Signed, batch_id: uuid.UUID) -> tuple[batches.BatchOut, str]:
    read = signed.uow(Permission.READ)
    batch = batches.get_batch(batch_id, read)
    return batch, voucher_types.get_voucher_type(batch.voucher_type_id, read).name


@router.get("/{batch_id}")
def batch_page(
    request: Request, batch_id: uuid.UUID, signed: SignedIn, done: str | None = None
) -> Response:
    batch, type_name = _batch(signed, batch_id)
    return render(
        request, "batch.html", signed, batch=batch, type_name=type_name, done=done,
        operations=[op.value for op in BatchOperation],
        may_manage=signed.can(Permission.MANAGE_CATALOG),
    )  # fmt: skip


@router.get("/{batch_id}/progress")
def batch_progress(request: Request, batch_id: uuid.UUID, signed: SignedIn) -> Response:
    """The progress fragment htmx polls while the batch generates; once it is done the
    fragment asks the page to reload (``HX-Refresh``) so the counts and actions appear."""
    batch, _type_name = _batch(signed, batch_id)
    response = render(request, "batch_progress.html", signed, batch=batch)
    if batch.state != "generating" and request.headers.get("hx-request"):
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/{batch_id}/print-file")
def download_print_file(batch_id: uuid.UUID, posted: Form) -> Response:
    """The plain codes, once (the API's route: a second download is refused, 410)."""
    response = batches.print_file(batch_id, posted.signed.uow(Permission.MANAGE_CATALOG))
    return closed(response)


@router.post("/{batch_id}/operate")
def operate(request: Request, batch_id: uuid.UUID, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    serials = {k: posted.text(k) for k in ("serial_from", "serial_to") if posted.text(k)}
    try:
        try:
            operation = BatchOperation(posted.text("operation"))
        except ValueError:
            raise Invalid("operation", "choose activate, freeze, unfreeze or cancel") from None
        change = batches.operate(batch_id, operation, uow, batches.RangeIn(**serials))
    except FORM_ERRORS as exc:
        batch, type_name = _batch(signed, batch_id)
        return render(
            request, "batch.html", signed, status_code=422, batch=batch, type_name=type_name,
            done=None, operations=[op.value for op in BatchOperation], may_manage=True,
            errors=field_errors(exc), values=posted.values,
        )  # fmt: skip
    done = (
        f"{change.operation}: {change.count} vouchers changed "
        f"(serials {change.serial_from}-{change.serial_to})"
    )
    return redirect(f"{PREFIX}/batches/{batch_id}", done=done)
