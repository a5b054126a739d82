"""Voucher lookup by serial: status, last four characters of the code, lifecycle dates, the
EDR history, and the operator's actions the role allows (reverse, reissue, cancel, close),
each through the same use case as ``POST /v1/vouchers/{serial}/{operation}``."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.errors import Invalid, NotFound
from tessera.domain.money import MAX_AMOUNT
from tessera.domain.roles import Permission
from tessera.domain.statuses import OPERATOR_OPERATIONS, Operation, sources
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    SignedIn,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import edrs, vouchers
from tessera.entrypoints.http.idempotency import run_again_if_transient
from tessera.entrypoints.http.voucher_types import get_voucher_type
from tessera.services import redemption
from tessera.services.redemption import Request as UseRequest
from tessera.services.redemption import Target

router = APIRouter(prefix=f"{PREFIX}/vouchers", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/vouchers", "Vouchers", "read")]

ACTIONS = OPERATOR_OPERATIONS  # reverse, reissue, cancel, close


def parse_serial(text: str) -> int:
    try:
        serial = int(text.strip())
    except ValueError:
        raise Invalid("serial", "a serial is a whole number, such as 1000001") from None
    if not 1 <= serial <= MAX_AMOUNT:
        raise Invalid("serial", f"a serial is between 1 and {MAX_AMOUNT}")
    return serial


@router.get("")
def lookup(
    request: Request,
    signed: SignedIn,
    serial: str = "",
    done: str | None = None,
    cursor: str | None = None,
) -> Response:
    if not serial.strip():
        return render(request, "voucher.html", signed, voucher=None, values={})
    try:
        number = parse_serial(serial)
        voucher = vouchers.get_voucher(number, signed.uow(Permission.READ))
    except (Invalid, NotFound) as exc:
        errors = {"serial": exc.reason if isinstance(exc, Invalid) else "no voucher has it"}
        return render(
            request, "voucher.html", signed, status_code=404 if isinstance(exc, NotFound) else 422,
            voucher=None, values={"serial": serial}, errors=errors,
        )  # fmt: skip
    voucher_type = get_voucher_type(voucher.voucher_type_id, signed.uow(Permission.READ))
    history = edrs.get_edrs(
        signed.uow(Permission.READ),
        subject_type="voucher",
        subject_id=str(number),
        cursor=cursor,
        limit=50,
    )
    actions = [op for op in ACTIONS if voucher.status in sources(op)]
    return render(
        request, "voucher.html", signed, voucher=voucher, voucher_type=voucher_type,
        history=history, actions=actions, done=done, values={"serial": str(number)},
        may_operate=signed.can(Permission.OPERATE_VOUCHERS),
    )  # fmt: skip


@router.post("/{serial}/{operation}")
def operate(request: Request, serial: int, operation: Operation, posted: Form) -> Response:
    signed = posted.signed
    if operation not in ACTIONS:
        raise NotFound(f"the console does not {operation.value} by serial", code="not_found")
    uow = signed.uow(Permission.OPERATE_VOUCHERS)  # refused here for a role without it
    use_case = redemption.OPERATIONS[operation]
    container = signed.container
    try:
        outcome = run_again_if_transient(  # as the API does, on a deadlock
            lambda: use_case(
                uow,
                container.code_secret,
                UseRequest(target=Target(serial=serial), reason=posted.optional("reason")),
                container.bar_policy,
            ),
            request.app.state.metrics.transactions_retried.inc,
        )
    except FORM_ERRORS as exc:
        errors = field_errors(exc)
        return render(
            request, "voucher_refused.html", signed, status_code=409, serial=serial,
            operation=operation, errors=errors,
        )  # fmt: skip
    if operation is Operation.REISSUE and outcome.replacement is not None:
        return render(
            request, "reissued.html", signed, old=serial, replacement=outcome.replacement,
            code=outcome.replacement_code,
        )  # fmt: skip
    return redirect(f"{PREFIX}/vouchers", serial=str(serial), done=operation.value)
