"""Subscriber lookup: the profile and service state, the wallet (usable totals and every
bucket), the aggregates as a campaign condition reads them and the per-subscriber cap
counts, a bar for wrong codes (lifted by an operator, on the record), and the subscriber's
EDR history, through the API's route functions. Without a subscriber the page lists who is
barred now (subscribers and keys), for the roles the API shows them to."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.errors import NotFound
from tessera.domain.roles import Permission
from tessera.domain.vouchers import bar_scopes
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
from tessera.entrypoints.http import bars as bar_routes
from tessera.entrypoints.http import edrs, lookups, subscribers
from tessera.services import bars

router = APIRouter(
    prefix=f"{PREFIX}/subscribers", route_class=ConsoleRoute, include_in_schema=False
)
NAV = [("/subscribers", "Subscribers", "read")]


def _barred(request: Request, signed: Signed, cursor: str | None, **context: Any) -> Response:
    shown = None
    if signed.can(Permission.OPERATE_VOUCHERS):  # GET /v1/bars is the operators'
        shown = bar_routes.list_bars(signed.uow(Permission.OPERATE_VOUCHERS), cursor, 50)
    context.setdefault("done", request.query_params.get("done"))
    return render(request, "subscriber.html", signed, wallet=None, bars=shown, **context)


def _page(
    request: Request, signed: Signed, wanted: str, cursor: str | None, *, status_code: int = 200,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    read = signed.uow(Permission.READ)
    try:
        wallet = subscribers.get_wallet(wanted, read)
    except NotFound:
        return _barred(
            request, signed, None, status_code=404, values={"id": wanted},
            errors={"id": "no subscriber has this id"},
        )  # fmt: skip
    history = edrs.get_edrs(
        read, subject_type="subscriber", subject_id=wanted, cursor=cursor, limit=50
    )
    return render(
        request, "subscriber.html", signed, status_code=status_code, wallet=wallet,
        history=history, aggregates=lookups.subscriber_aggregates(wanted, read),
        bar=bars.bar_on(read, bar_scopes(None, wallet.subscriber.external_id)[0]),
        may_lift=signed.can(Permission.OPERATE_VOUCHERS), done=request.query_params.get("done"),
        errors=errors or {}, values={"id": wanted, **(values or {})},
    )  # fmt: skip


@router.get("")
def lookup(request: Request, signed: SignedIn, id: str = "", cursor: str | None = None) -> Response:
    wanted = id.strip()
    if not wanted:
        return _barred(request, signed, cursor)
    return _page(request, signed, wanted, cursor)


@router.post("/bars/lift")
def lift(request: Request, posted: Form) -> Response:
    """Lifts a bar (``POST /v1/bars/{scope}/lift``); back to the subscriber, or the list."""
    signed = posted.signed
    uow = signed.uow(Permission.OPERATE_VOUCHERS)
    scope, back = posted.text("scope"), posted.text("subscriber")
    try:
        bar_routes.lift_bar(scope, uow, bar_routes.LiftIn(reason=posted.optional("reason")))
    except FORM_ERRORS as exc:
        errors = {"reason" if k == "reason" else "_": v for k, v in field_errors(exc).items()}
        if back:
            return _page(request, signed, back, None, status_code=422, errors=errors,
                         values={"reason": posted.text("reason")})  # fmt: skip
        return _barred(request, signed, None, status_code=422, errors=errors)
    if back:
        return redirect(f"{PREFIX}/subscribers", id=back, done="bar lifted")
    return redirect(f"{PREFIX}/subscribers", done=f"bar on {scope} lifted")
