"""Vouchers: issue one, look one up, and operate on one by code (points of sale) or by serial
(operators). Codes travel in request bodies, never in URLs, so they stay out of access logs.

By code, a pos key may validate, reserve, confirm, release and redeem; reverse, reissue,
cancel and close need an operator key. By serial, every operation needs an operator key.
"""
# No "from __future__ import annotations": the endpoints are built in a loop and FastAPI
# reads their annotations at definition time.

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tessera.adapters.db.repositories.vouchers import VoucherView
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.money import MAX_AMOUNT, Take, purchase_of
from tessera.domain.statuses import (
    OPERATOR_OPERATIONS,
    POINT_OF_SALE_OPERATIONS,
    VOUCHER_OPERATIONS,
    Operation,
    VoucherStatus,
)
from tessera.domain.vouchers import BarPolicy, Verdict, Voucher
from tessera.entrypoints.http.deps import (
    ContainerDep,
    PointOfSale,
    Reader,
    VoucherOperator,
)
from tessera.entrypoints.http.idempotency import IdempotencyDep
from tessera.entrypoints.http.moments import Moment
from tessera.services import issuing, redemption
from tessera.services.redemption import Outcome, Request, Target

router = APIRouter(prefix="/v1/vouchers", tags=["vouchers"])

Serial = Annotated[int, Path(ge=1, le=MAX_AMOUNT, description="The voucher's public serial number")]


class PurchaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: int = Field(description="The purchase's amount in minor units (cents)")
    currency: str = Field(max_length=3, description="ISO 4217; must be the type's currency")


class BySerialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscriber: str | None = Field(
        None, max_length=64, description="The wallet to credit (MSISDN or customer id)"
    )
    activity_at: Moment | None = Field(
        None, description="When the use happened (expiry is judged on it); default: now"
    )
    reason: str | None = Field(None, max_length=200)
    offer_parameters: dict[str, str] | None = Field(
        None,
        max_length=10,
        description="For a type with a fulfilment offer: values of the parameters its "
        "fulfilment_parameters name (each at most 100 characters), sent to the order system",
    )
    purchase: PurchaseIn | None = Field(
        None,
        description="For a type worth money (purchase_value): what the point of sale sells; "
        "the answer's taken_off says what the voucher takes off it. Required to redeem or "
        "confirm such a voucher",
    )


class ByCodeIn(BySerialIn):
    code: str = Field(min_length=1, max_length=200, description="As typed; spaces and dashes ok")


class VoucherOut(BaseModel):
    serial: int
    status: VoucherStatus
    code_last4: str
    voucher_type_id: uuid.UUID
    lifecycle_id: uuid.UUID
    batch_id: uuid.UUID | None
    issued_at: datetime
    activated_at: datetime | None
    reserved_until: datetime | None
    status_changed_at: datetime
    expires_at: datetime | None = None

    @classmethod
    def of(cls, v: Voucher, expires_at: datetime | None = None) -> "VoucherOut":
        return cls(
            serial=v.serial,
            status=v.status,
            code_last4=v.code_last4,
            voucher_type_id=v.voucher_type_id,
            lifecycle_id=v.lifecycle_id,
            batch_id=v.batch_id,
            issued_at=v.issued_at,
            activated_at=v.activated_at,
            reserved_until=v.reserved_until,
            status_changed_at=v.status_changed_at,
            expires_at=expires_at,
        )


class CreditOut(BaseModel):
    bucket_id: int
    balance_type: str
    amount: int
    expires_at: datetime | None


class TakenOffOut(BaseModel):
    """What a voucher worth money takes off the purchase (or would, for a check)."""

    amount_minor: int = Field(description="Taken off the purchase, in minor units")
    currency: str
    purchase_minor: int
    due_minor: int = Field(description="What is left to pay: purchase_minor - amount_minor")
    left_minor: int | None = Field(
        None, description="A stored value: what is left after this use (0: used up)"
    )

    @classmethod
    def of(cls, take: Take | None) -> "TakenOffOut | None":
        if take is None:
            return None
        return cls(
            amount_minor=take.taken_minor,
            currency=take.purchase.currency,
            purchase_minor=take.purchase.amount_minor,
            due_minor=take.due_minor,
            left_minor=take.left_minor,
        )


class OutcomeOut(BaseModel):
    voucher: VoucherOut
    status_before: VoucherStatus
    subscriber: str | None = None
    credits: list[CreditOut] = Field(default_factory=list)
    fulfilment_request_id: str | None = None
    replacement: VoucherOut | None = None
    replacement_code: str | None = Field(None, description="Shown once; only on reissue")
    taken_off: TakenOffOut | None = Field(
        None, description="A voucher worth money: what it took off the purchase"
    )
    given_back_minor: int | None = Field(
        None, description="A stored value's reversal: what the reversed use gave back"
    )

    @classmethod
    def of(cls, o: Outcome) -> "OutcomeOut":
        return cls(
            voucher=VoucherOut.of(o.voucher, o.expires_at),
            status_before=o.status_before,
            subscriber=o.subscriber,
            credits=[CreditOut(**vars_of(c)) for c in o.credits],
            fulfilment_request_id=o.fulfilment_request_id,
            replacement=VoucherOut.of(o.replacement, o.expires_at) if o.replacement else None,
            replacement_code=o.replacement_code,
            taken_off=TakenOffOut.of(o.take),
            given_back_minor=o.given_back_minor,
        )


def vars_of(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


class GrantOut(BaseModel):
    voucher_type: str
    cost_minor: int
    currency: str
    buckets: list[dict[str, Any]]
    fulfilment_offer: str | None
    purchase_value: dict[str, Any] | None = None
    value_left_minor: int | None = Field(None, description="A stored value: what is left")


class ValidationOut(BaseModel):
    usable: bool
    reason: Verdict = Field(description="'usable', or why not")
    voucher: VoucherOut | None = None
    grants: GrantOut | None = Field(None, description="What a redemption would grant now")
    taken_off: TakenOffOut | None = Field(
        None, description="What a use now would take off the purchase sent"
    )


class IssueIn(BaseModel):
    voucher_type_id: uuid.UUID
    subscriber: str | None = Field(None, max_length=64, description="Issued to this subscriber")
    status: Literal["available", "pending"] = "available"


class IssuedOut(VoucherOut):
    code: str | None = Field(
        description="The voucher code, shown this once and never stored in plain. null in a "
        "replay of the same Idempotency-Key (its `Idempotent-Replayed: true` header says so): "
        "the voucher was issued by the first call, whose answer alone showed the code"
    )


async def _policy(container: ContainerDep) -> BarPolicy:
    return container.bar_policy


Policy = Annotated[BarPolicy, Depends(_policy)]


def _grants(view: VoucherView) -> GrantOut:
    spec = view.voucher_type.spec
    value = spec.purchase_value
    return GrantOut(
        voucher_type=spec.name,
        cost_minor=spec.cost_minor,
        currency=spec.currency,
        buckets=[vars_of(b) for b in spec.buckets],
        fulfilment_offer=spec.fulfilment_offer,
        purchase_value=None
        if value is None
        else {k: v for k, v in vars_of(value).items() if v is not None},
        value_left_minor=_value_left(view),
    )


def _value_left(view: VoucherView) -> int | None:
    value = view.voucher_type.spec.purchase_value
    return None if value is None else value.left(view.voucher.value_spent_minor)


def _request(body: BySerialIn, target: Target) -> Request:
    return Request(
        target=target,
        subscriber=body.subscriber,
        activity_at=body.activity_at,
        reason=body.reason,
        offer_parameters=body.offer_parameters,
        purchase=None
        if body.purchase is None
        else purchase_of(body.purchase.amount_minor, body.purchase.currency),
    )


# --- issue and read ----------------------------------------------------------------------


REPLAY_HEADER = {
    "Idempotent-Replayed": {
        "description": "true when this is the stored answer of an earlier call with the same "
        "Idempotency-Key (shown-once values such as codes are then null)",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedOut,
    responses={201: {"headers": REPLAY_HEADER}},
)
def issue_voucher(
    body: IssueIn, uow: VoucherOperator, container: ContainerDep, idem: IdempotencyDep
) -> JSONResponse:
    """Issue one voucher of a type with the default code format; the code is returned once."""

    def call() -> IssuedOut:
        issued = issuing.issue_one(
            uow,
            body.voucher_type_id,
            container.code_secret,
            status=VoucherStatus(body.status),
            subscriber=body.subscriber,
        )
        answer = VoucherOut.of(issued.voucher, issued.expires_at)
        return IssuedOut(**answer.model_dump(), code=issued.code)

    return idem.run(uow, body, call, status_code=status.HTTP_201_CREATED)


class VoucherRecordOut(VoucherOut):
    replaces_serial: int | None = Field(
        description="The voucher this one was reissued in place of, if it was"
    )
    replaced_by_serial: int | None = Field(
        description="The voucher a reissue made in place of this one, if it was reissued"
    )
    value_left_minor: int | None = Field(
        None, description="A stored value (purchase_value): what is left of it to spend"
    )


@router.get("/{serial}")
def get_voucher(serial: Serial, uow: Reader) -> VoucherRecordOut:
    found = redemption.describe(uow, serial)
    return VoucherRecordOut(
        **VoucherOut.of(found.voucher, found.expires_at).model_dump(),
        replaces_serial=found.replaces_serial,
        replaced_by_serial=found.replaced_by_serial,
        value_left_minor=_value_left(found.view),
    )


# --- validate (no change) -------------------------------------------------------------------


def _validation(result: redemption.Validation) -> ValidationOut:
    if result.view is None:
        return ValidationOut(usable=False, reason=result.verdict)
    return ValidationOut(
        usable=result.verdict is Verdict.USABLE,
        reason=result.verdict,
        voucher=VoucherOut.of(result.view.voucher, result.expires_at),
        grants=_grants(result.view),
        taken_off=TakenOffOut.of(result.take),
    )


@router.post("/validate")
def validate_by_code(
    body: ByCodeIn, uow: PointOfSale, container: ContainerDep, policy: Policy
) -> ValidationOut:
    """Whether a code can be used now (or at ``activity_at``), and why not. A wrong code
    counts towards the caller's bar."""
    result = redemption.validate(
        uow, container.code_secret, _request(body, Target(code=body.code)), policy
    )
    return _validation(result)


@router.post("/{serial}/validate")
def validate_by_serial(
    serial: Serial, body: BySerialIn, uow: VoucherOperator, container: ContainerDep, policy: Policy
) -> ValidationOut:
    result = redemption.validate(
        uow, container.code_secret, _request(body, Target(serial=serial)), policy
    )
    return _validation(result)


# --- operations that change a voucher, by code and by serial -----------------------------


def by_code_request(body: ByCodeIn) -> Request:
    return _request(body, Target(code=body.code))


def _by_code(operation: Operation, uow_type: Any) -> Callable[..., JSONResponse]:
    # The common redemption by code never gets here: ``point_of_sale.py`` answers it ahead
    # of FastAPI and hands on only what its quick path leaves.
    use_case = redemption.OPERATIONS[operation]

    def endpoint(
        body: ByCodeIn,
        uow: uow_type,
        container: ContainerDep,
        policy: Policy,
        idem: IdempotencyDep,
    ) -> JSONResponse:
        typed: UnitOfWork = uow
        request = by_code_request(body)
        return idem.run(
            typed,
            body,
            lambda: OutcomeOut.of(use_case(typed, container.code_secret, request, policy)),
        )

    return endpoint


def _by_serial(operation: Operation) -> Callable[..., JSONResponse]:
    use_case = redemption.OPERATIONS[operation]

    def endpoint(
        serial: Serial,
        body: BySerialIn,
        uow: VoucherOperator,
        container: ContainerDep,
        policy: Policy,
        idem: IdempotencyDep,
    ) -> JSONResponse:
        request = _request(body, Target(serial=serial))
        return idem.run(
            uow, body, lambda: OutcomeOut.of(use_case(uow, container.code_secret, request, policy))
        )

    return endpoint


# By code first, redemption first: routes are matched in order, and these are the hot ones.
_BY_CODE_ORDER = (Operation.REDEEM, Operation.CONFIRM, Operation.RESERVE, Operation.RELEASE)
for _operation in (*_BY_CODE_ORDER, *OPERATOR_OPERATIONS):
    _uow_type = PointOfSale if _operation in POINT_OF_SALE_OPERATIONS else VoucherOperator
    router.add_api_route(
        f"/{_operation.value}",
        _by_code(_operation, _uow_type),
        methods=["POST"],
        response_model=OutcomeOut,
        name=f"{_operation.value}_by_code",
        summary=f"{_operation.value.capitalize()} a voucher by its code",
    )
for _operation in VOUCHER_OPERATIONS:
    router.add_api_route(
        f"/{{serial}}/{_operation.value}",
        _by_serial(_operation),
        methods=["POST"],
        response_model=OutcomeOut,
        name=f"{_operation.value}_by_serial",
        summary=f"{_operation.value.capitalize()} a voucher by its serial",
    )
