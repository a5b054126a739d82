"""Lifecycles and voucher types: the lists, a form to create each, and a type's active flag
(whether new batches may be made of it). Each form is validated by the API's own request
model and saved by the API's own route function; a refusal is shown next to its field."""

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.lifecycle import ValidityKind
from tessera.domain.roles import Permission
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    Posted,
    Signed,
    SignedIn,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import lifecycles, voucher_types

router = APIRouter(prefix=f"{PREFIX}/catalog", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/catalog", "Lifecycles and types", "read")]


def _page(request: Request, signed: Signed, *, status_code: int = 200, **forms: Any) -> Response:
    read = signed.uow(Permission.READ)
    found = lifecycles.list_lifecycles(read, limit=500).items
    return render(
        request,
        "catalog.html",
        signed,
        status_code=status_code,
        lifecycles=found,
        lifecycle_options=[(str(lc.id), lc.name) for lc in found],
        types=voucher_types.list_voucher_types(read, limit=500).items,
        kinds=[k.value for k in ValidityKind],
        may_manage=signed.can(Permission.MANAGE_CATALOG),
        lifecycle_form=forms.get("lifecycle_form", {"errors": {}, "values": {}}),
        type_form=forms.get("type_form", {"errors": {}, "values": {}}),
        done=request.query_params.get("done"),
    )


@router.get("")
def catalog_page(request: Request, signed: SignedIn) -> Response:
    return _page(request, signed)


def _given(posted: Posted, *names: str) -> dict[str, str]:
    """The fields filled in (an empty one takes the API's default)."""
    return {n: posted.text(n) for n in names if posted.text(n)}


@router.post("/lifecycles")
def create_lifecycle(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    given = _given(
        posted, "name", "validity_kind", "expires_at", "validity_days", "grace_days",
        "reservation_hold_seconds", "retention_days",
    )  # fmt: skip
    try:
        created = lifecycles.create_lifecycle(lifecycles.LifecycleIn(**given), uow)
    except FORM_ERRORS as exc:
        form = {"errors": field_errors(exc), "values": posted.values}
        return _page(request, signed, status_code=422, lifecycle_form=form)
    return redirect(f"{PREFIX}/catalog", done=f"lifecycle {created.name}")


@router.post("/types")
def create_type(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    body: dict[str, Any] = _given(posted, "name", "cost_minor", "currency", "lifecycle_id")
    body["active"] = posted.text("active") == "on"
    bucket = _given(posted, "balance_type", "amount", "validity_days")
    if bucket:
        body["buckets"] = [bucket]
    try:
        created = voucher_types.create_voucher_type(voucher_types.VoucherTypeIn(**body), uow)
    except FORM_ERRORS as exc:
        errors = {
            k.replace("buckets[0].", ""): v for k, v in field_errors(exc).items()
        }  # the one bucket row's fields are named without the list
        form = {"errors": errors, "values": posted.values}
        return _page(request, signed, status_code=422, type_form=form)
    return redirect(f"{PREFIX}/catalog", done=f"voucher type {created.name}")


@router.post("/types/{type_id}/active")
def set_active(type_id: uuid.UUID, posted: Form) -> Response:
    uow = posted.signed.uow(Permission.MANAGE_CATALOG)
    active = posted.text("active") == "true"
    changed = voucher_types.update_voucher_type(
        type_id, voucher_types.VoucherTypePatch(active=active), uow
    )
    state = "activated" if changed.active else "deactivated"
    return redirect(f"{PREFIX}/catalog", done=f"{state} {changed.name}")
