"""Point-of-sale and operator operations on one voucher: validate, reserve, confirm, release,
redeem, reverse, reissue, cancel, close.

Each runs in one transaction: find the voucher (by code hash or serial) with its type and
lifecycle, ask the domain whether the operation may happen, apply it with a compare-and-set
on the status, move the wallet, append the EDRs, commit. A lost race surfaces as the
transition table's 409 with the status the winner left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tessera.adapters.db.repositories.quick_use import NewBucket, QuickUses
from tessera.adapters.db.repositories.vouchers import VoucherView
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.code_hash import code_hash
from tessera.domain.codes import CodeFormat, is_well_formed
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, DomainError, Invalid
from tessera.domain.ids import new_id
from tessera.domain.statuses import IllegalTransition, Operation, VoucherStatus
from tessera.domain.vouchers import (
    BarPolicy,
    Barred,
    CodeUnknown,
    CreditSpent,
    Verdict,
    Voucher,
    VoucherNotFound,
    bar_scopes,
    check_activity_time,
    expiry_of,
    is_plausible_code,
    plan,
    verdict,
)
from tessera.domain.wallet import Subscriber, validate_external_id
from tessera.services import voucher_events
from tessera.services.issuing import DEFAULT_FORMAT, issue_voucher
from tessera.services.wallets import (
    credit,
    credit_edr,
    ensure_subscriber,
    new_subscriber,
    subscriber_created_edr,
)

S = VoucherStatus
REDEEM_EDRS = ["voucher.redeem", "voucher.confirm"]


@dataclass(frozen=True, slots=True)
class Target:
    """Which voucher: a code typed at a point of sale, or a serial (operators)."""

    code: str | None = None
    serial: int | None = None

    def __post_init__(self) -> None:
        if (self.code is None) == (self.serial is None):
            raise Invalid("code", "give either a code or a serial")


@dataclass(frozen=True, slots=True)
class Request:
    target: Target
    subscriber: str | None = None  # external id (MSISDN); created on first redemption
    activity_at: datetime | None = None  # when the use happened; default: now
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Credit:
    bucket_id: int
    balance_type: str
    amount: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    voucher: Voucher
    status_before: VoucherStatus
    expires_at: datetime | None
    subscriber: str | None = None
    credits: list[Credit] = field(default_factory=list)
    fulfilment_request_id: str | None = None
    replacement: Voucher | None = None
    replacement_code: str | None = None  # shown once


@dataclass(frozen=True, slots=True)
class Validation:
    verdict: Verdict
    view: VoucherView | None
    expires_at: datetime | None


# --- finding the voucher, and counting wrong codes ----------------------------------------


def _locate(
    uow: UnitOfWork, secret: bytes, target: Target, subscriber: str | None, policy: BarPolicy
) -> VoucherView:
    now = uow.clock()
    if target.serial is not None:
        found = uow.vouchers.view(serial=target.serial, subscriber=subscriber)
        if found is None:
            raise VoucherNotFound()
        return found
    assert target.code is not None
    scopes = bar_scopes(uow.actor_key_id, subscriber)
    view = None
    if _well_formed(uow, target.code):
        view = uow.vouchers.view(
            code_hash=code_hash(secret, target.code), bar_scopes=scopes, subscriber=subscriber
        )
    if view is None:
        _wrong_code(uow, scopes, policy, now)
    assert view is not None
    if view.barred_until is not None and view.barred_until > now:
        raise Barred(view.barred_until, now)
    return view


# The code formats each tenant issues in, as last read. Formats are only ever added, so a code
# that passes a known format is well-formed for sure; only a failure re-reads them (a new
# batch's format is then seen at once), which keeps the common path free of a query.
_known_formats: dict[uuid.UUID, frozenset[CodeFormat]] = {}


def _known_format(tenant_id: uuid.UUID, raw_code: str) -> bool:
    """Plausible and passing a format already known, with no query."""
    known = _known_formats.get(tenant_id, frozenset())
    return is_plausible_code(raw_code) and any(is_well_formed(fmt, raw_code) for fmt in known)


def _well_formed(uow: UnitOfWork, raw_code: str) -> bool:
    """Shape first (cheap), then the check character of any format the tenant issues codes
    in: a typing error is refused without looking a voucher up."""
    if not is_plausible_code(raw_code):
        return False
    if _known_format(uow.tenant_id, raw_code):
        return True
    known = _known_formats.get(uow.tenant_id, frozenset())
    with uow:
        fresh = frozenset({DEFAULT_FORMAT, *uow.batches.formats_in_use()})
    _known_formats[uow.tenant_id] = fresh
    return any(is_well_formed(fmt, raw_code) for fmt in fresh - known)


def _wrong_code(uow: UnitOfWork, scopes: list[str], policy: BarPolicy, now: datetime) -> None:
    """Count the failure against each scope (committed even though the call fails), bar the
    scopes that reach the threshold, and refuse. A barred caller is refused without counting."""
    until = uow.attempts.barred_until(scopes)
    if until is not None and until > now:
        raise Barred(until, now)
    drafts = []
    for scope in scopes:
        bar = uow.attempts.record_failure(scope, now, policy)
        drafts.append(
            EdrDraft("voucher.validate_failed", "caller", scope, details={"reason": "unknown"})
        )
        if bar is not None:
            drafts.append(
                EdrDraft(
                    "voucher.bar",
                    "caller",
                    scope,
                    details={"barred_until": bar.isoformat(), "threshold": policy.threshold},
                )
            )
    uow.edrs.append_many(drafts, now)
    uow.commit()
    raise CodeUnknown()


def _lost_race(uow: UnitOfWork, voucher: Voucher, operation: Operation) -> Conflict:
    now = uow.clock()
    current = uow.vouchers.get(voucher.id)
    if current is None:
        return Conflict("the voucher was removed meanwhile", code="concurrent_change")
    return IllegalTransition(current.effective_status(now), operation)


def _voucher_edr(
    operation: Operation,
    view: VoucherView,
    before: VoucherStatus,
    after: VoucherStatus,
    *,
    amount: bool = False,
    **details: Any,
) -> EdrDraft:
    spec = view.voucher_type.spec
    return EdrDraft(
        f"voucher.{operation.value}",
        "voucher",
        str(view.voucher.serial),
        status_before=before.value,
        status_after=after.value,
        amount_minor=spec.cost_minor if amount else None,
        currency=spec.currency if amount else None,
        details={"voucher_type": spec.name, "voucher_type_id": str(view.voucher.voucher_type_id)}
        | {k: v for k, v in details.items() if v is not None},
    )


def _release_lapsed_hold(view: VoucherView, before: VoucherStatus, now: datetime) -> list[EdrDraft]:
    """A lapsed hold that is used is released first, on the record, as the sweeper would."""
    if view.voucher.status is S.RESERVED and before is S.AVAILABLE:
        return [_voucher_edr(Operation.RELEASE, view, S.RESERVED, S.AVAILABLE, cause="hold_lapsed")]
    return []


# --- validate ---------------------------------------------------------------------------


def validate(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Validation:
    """Whether the voucher could be redeemed now (for an activity at ``activity_at``).

    An unknown code is an answer here, not an error, but it still counts as a wrong code.
    """
    subscriber = _optional_subscriber(request.subscriber)
    with uow:
        now = uow.clock()
        activity = check_activity_time(request.activity_at, now)
        try:
            view = _locate(uow, secret, request.target, subscriber, policy)
        except (CodeUnknown, VoucherNotFound):
            return Validation(Verdict.UNKNOWN, None, None)
        rules = view.lifecycle.rules
        found = verdict(view.voucher, rules, activity, now)
        return Validation(found, view, expiry_of(view.voucher, rules))


def _optional_subscriber(external_id: str | None) -> str | None:
    return None if external_id is None else validate_external_id(external_id)


def _required_subscriber(external_id: str | None) -> str:
    if external_id is None:
        raise Invalid("subscriber", "is required: the wallet to credit (an MSISDN or customer id)")
    return validate_external_id(external_id)


# --- uses by a subscriber -----------------------------------------------------------------


def redeem(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """available -> used in one step, crediting the subscriber's wallet."""
    external_id = _required_subscriber(request.subscriber)
    return _use(uow, secret, request, policy, Operation.REDEEM, external_id)


def confirm(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """reserved -> used; the wallet credited is the one named now, or the one that reserved."""
    external_id = _optional_subscriber(request.subscriber)
    return _use(uow, secret, request, policy, Operation.CONFIRM, external_id)


def _use_edr(
    operation: Operation,
    view: VoucherView,
    before: VoucherStatus,
    after: VoucherStatus,
    subscriber: Subscriber,
    activity: datetime,
    credits: list[Credit],
    request_id: str | None,
) -> EdrDraft:
    """The use itself, with the revenue it recognizes and what it credited."""
    return _voucher_edr(
        operation,
        view,
        before,
        after,
        amount=True,
        subscriber=subscriber.external_id,
        activity_at=activity.isoformat(),
        revenue="recognized",
        buckets=[
            {"bucket_id": c.bucket_id, "balance_type": c.balance_type, "amount": c.amount}
            for c in credits
        ],
        fulfilment_request_id=request_id,
    )


def _use(
    uow: UnitOfWork,
    secret: bytes,
    request: Request,
    policy: BarPolicy,
    operation: Operation,
    external_id: str | None,
) -> Outcome:
    with uow:
        now = uow.clock()
        activity = check_activity_time(request.activity_at, now)
        view = _locate(uow, secret, request.target, external_id, policy)
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, operation, rules, activity, now)
        subscriber = _redeemer(uow, view, external_id, now)
        moved = uow.vouchers.transition(
            view.voucher, before, after, now, subscriber_id=subscriber.id, reserved_until=None
        )
        if moved is None:
            raise _lost_race(uow, view.voucher, operation)
        drafts = _release_lapsed_hold(view, before, now)
        credits, request_id = _grant(uow, view, subscriber, now, drafts)
        drafts.append(
            _use_edr(operation, view, before, after, subscriber, activity, credits, request_id)
        )
        uow.edrs.append_many(drafts, now)
        voucher_events.voucher_redeemed(
            uow, moved, view.voucher_type, subscriber.external_id, activity
        )
        uow.commit()
    return Outcome(
        voucher=moved,
        status_before=before,
        expires_at=expiry_of(moved, rules),
        subscriber=subscriber.external_id,
        credits=credits,
        fulfilment_request_id=request_id,
    )


QUICK_OPERATIONS = frozenset({Operation.REDEEM, Operation.CONFIRM})


async def use_quickly(
    quick: QuickUses,
    uow: UnitOfWork,
    secret: bytes,
    request: Request,
    operation: Operation,
) -> Outcome | None:
    """Redeem or confirm by code in two awaited statements (``quick_use.py``): the common
    case of a well-formed code of a voucher the rules let be used, for a named subscriber
    (created if new), of a type that credits buckets, with no webhook to notify. Anything
    else returns None before writing, and the caller takes the transactional path, which
    decides again and gives every refusal its answer. ``uow`` is not entered: it lends its
    tenant, actor and clock."""
    code, external_id = request.target.code, request.subscriber
    if operation not in QUICK_OPERATIONS or code is None or external_id is None:
        return None
    external_id = validate_external_id(external_id)
    if not _known_format(uow.tenant_id, code):
        return None
    now = uow.clock()
    activity = check_activity_time(request.activity_at, now)
    scopes = bar_scopes(uow.actor_key_id, external_id)
    found = await quick.view(uow.tenant_id, code_hash(secret, code), scopes, external_id)
    if found is None or found.webhooks:
        return None
    view = found.view
    spec = view.voucher_type.spec
    barred = view.barred_until is not None and view.barred_until > now
    if barred or spec.fulfilment_offer is not None:
        return None
    try:
        before, after = plan(view.voucher, operation, view.lifecycle.rules, activity, now)
    except DomainError:
        return None
    subscriber = view.subscriber or new_subscriber(external_id, now)
    buckets = [
        NewBucket(bucket_id, b.balance_type, b.amount, _bucket_expiry(now, b.validity_days))
        for bucket_id, b in zip(found.bucket_ids, spec.buckets, strict=True)
    ]
    credits = [Credit(b.id, b.balance_type, b.amount, b.expires_at) for b in buckets]
    source = {"voucher_serial": view.voucher.serial}
    drafts = [] if view.subscriber else [subscriber_created_edr(subscriber)]
    drafts += _release_lapsed_hold(view, before, now)
    drafts += [
        credit_edr(subscriber, b.id, b.balance_type, b.amount, b.expires_at, source)
        for b in buckets
    ]
    drafts.append(_use_edr(operation, view, before, after, subscriber, activity, credits, None))
    moved = await quick.use(
        uow.tenant_id,
        view.voucher,
        before,
        after,
        now,
        subscriber,
        view.subscriber is None,
        buckets,
        drafts,
        uow.actor_key_id,
    )
    if moved is None:
        return None  # lost a race: the transactional path answers with the winner's status
    return Outcome(
        voucher=moved,
        status_before=before,
        expires_at=expiry_of(moved, view.lifecycle.rules),
        subscriber=subscriber.external_id,
        credits=credits,
    )


def _bucket_expiry(now: datetime, validity_days: int | None) -> datetime | None:
    return now + timedelta(days=validity_days) if validity_days else None


def _redeemer(
    uow: UnitOfWork, view: VoucherView, external_id: str | None, now: datetime
) -> Subscriber:
    """The wallet to credit: found with the voucher, or created (a new MSISDN at a point of
    sale is a real subscriber), or the one that reserved the voucher."""
    if view.subscriber is not None:
        return view.subscriber
    if external_id is not None:
        return ensure_subscriber(uow, external_id)
    if view.voucher.subscriber_id is not None:
        found = uow.subscribers.get(view.voucher.subscriber_id)
        if found is not None:
            return found
    raise Invalid("subscriber", "is required: the reservation did not name a subscriber")


def _grant(
    uow: UnitOfWork,
    view: VoucherView,
    subscriber: Subscriber,
    now: datetime,
    drafts: list[EdrDraft],
) -> tuple[list[Credit], str | None]:
    """What the type grants as it is now (types are not versioned): its buckets, or, for a
    type with a fulfilment offer, a request to the tenant's order system instead."""
    spec = view.voucher_type.spec
    voucher = view.voucher
    if spec.fulfilment_offer is not None:
        request_id = new_id()
        uow.fulfilment.add(
            request_id,
            voucher.id,
            voucher.serial,
            subscriber.id,
            spec.fulfilment_offer,
            "activate",
            now,
        )
        voucher_events.fulfilment_requested(
            uow, voucher, view.voucher_type, subscriber.external_id, "activate", now
        )
        return [], str(request_id)
    credits = []
    for template in spec.buckets:
        expires_at = _bucket_expiry(now, template.validity_days)
        bucket_id = credit(
            uow,
            subscriber,
            template.balance_type,
            template.amount,
            expires_at,
            {"voucher_serial": voucher.serial},
            edrs=drafts,
        )
        credits.append(Credit(bucket_id, template.balance_type, template.amount, expires_at))
    return credits, None


def reserve(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """available -> reserved for the lifecycle's hold time (a check-in at a partner)."""
    external_id = _optional_subscriber(request.subscriber)
    with uow:
        now = uow.clock()
        activity = check_activity_time(request.activity_at, now)
        view = _locate(uow, secret, request.target, external_id, policy)
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, Operation.RESERVE, rules, activity, now)
        if rules.reservation_hold_seconds == 0:
            raise Conflict(
                "this voucher's lifecycle does not allow reservations",
                code="reservation_not_allowed",
            )
        values: dict[str, Any] = {"reserved_until": now + rules.hold}
        if external_id is not None:
            values["subscriber_id"] = ensure_subscriber(uow, external_id).id
        moved = uow.vouchers.transition(view.voucher, before, after, now, **values)
        if moved is None:
            raise _lost_race(uow, view.voucher, Operation.RESERVE)
        drafts = _release_lapsed_hold(view, before, now)
        drafts.append(
            _voucher_edr(
                Operation.RESERVE,
                view,
                before,
                after,
                subscriber=external_id,
                reserved_until=values["reserved_until"].isoformat(),
            )
        )
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(moved, before, expiry_of(moved, rules), subscriber=external_id)


# --- changes without a wallet -------------------------------------------------------------


def release(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """reserved -> available (also a hold that has lapsed but is not yet swept)."""
    return _simple(uow, secret, request, policy, Operation.RELEASE, reserved_until=None)


def cancel(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """The holder gives the voucher back (available or reserved only)."""
    return _simple(uow, secret, request, policy, Operation.CANCEL, reserved_until=None)


def close(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """The operator withdraws the voucher for good (pending, available or reserved)."""
    return _simple(uow, secret, request, policy, Operation.CLOSE, reserved_until=None)


def _simple(
    uow: UnitOfWork,
    secret: bytes,
    request: Request,
    policy: BarPolicy,
    operation: Operation,
    **values: Any,
) -> Outcome:
    with uow:
        now = uow.clock()
        view = _locate(uow, secret, request.target, None, policy)
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, operation, rules, now, now)
        moved = uow.vouchers.transition(view.voucher, before, after, now, **values)
        if moved is None:
            raise _lost_race(uow, view.voucher, operation)
        drafts = [] if operation is Operation.RELEASE else _release_lapsed_hold(view, before, now)
        drafts.append(_voucher_edr(operation, view, before, after, reason=request.reason))
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(moved, before, expiry_of(moved, rules))


def reissue(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """available or reserved -> reissued; the replacement (its code returned once) is
    available, or reserved when the old one was, and refers to the old one."""
    with uow:
        now = uow.clock()
        view = _locate(uow, secret, request.target, None, policy)
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, Operation.REISSUE, rules, now, now)
        moved = uow.vouchers.transition(view.voucher, before, after, now, reserved_until=None)
        if moved is None:
            raise _lost_race(uow, view.voucher, Operation.REISSUE)
        old = view.voucher
        new, code = issue_voucher(uow, old.voucher_type_id, secret, status=before, replaces=old)
        drafts = _release_lapsed_hold(view, before, now)
        drafts.append(
            _voucher_edr(
                Operation.REISSUE,
                view,
                before,
                after,
                replacement_serial=new.serial,
                reason=request.reason,
            )
        )
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(moved, before, expiry_of(moved, rules), replacement=new, replacement_code=code)


def reverse(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """used -> available, taking back exactly the buckets the redemption credited; refused
    with ``credit_spent`` (nothing changes) when any of them has been spent."""
    with uow:
        now = uow.clock()
        view = _locate(uow, secret, request.target, None, policy)
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, Operation.REVERSE, rules, now, now)
        redemption = uow.edrs.latest("voucher", str(view.voucher.serial), REDEEM_EDRS)
        moved = uow.vouchers.transition(view.voucher, before, after, now)
        if moved is None:
            raise _lost_race(uow, view.voucher, Operation.REVERSE)
        details = redemption.details if redemption else {}
        taken = []
        for bucket in details.get("buckets", []):
            if not uow.buckets.take(bucket["bucket_id"], bucket["amount"]):
                raise CreditSpent(bucket["balance_type"], bucket["bucket_id"])
            taken.append(bucket)
        subscriber_id = details.get("subscriber")
        drafts = []
        if taken:
            drafts.append(
                EdrDraft(
                    "wallet.debit",
                    "subscriber",
                    str(subscriber_id),
                    amount_minor=sum(b["amount"] for b in taken),
                    details={"buckets": taken, "voucher_serial": moved.serial, "cause": "reverse"},
                )
            )
        request_id = None
        offer = view.voucher_type.spec.fulfilment_offer
        if details.get("fulfilment_request_id") and offer and view.voucher.subscriber_id:
            request_id = new_id()
            uow.fulfilment.add(
                request_id,
                moved.id,
                moved.serial,
                view.voucher.subscriber_id,
                offer,
                "revoke",
                now,
            )
            holder = uow.subscribers.get(view.voucher.subscriber_id)
            voucher_events.fulfilment_requested(
                uow,
                moved,
                view.voucher_type,
                holder.external_id if holder else str(view.voucher.subscriber_id),
                "revoke",
                now,
            )
        drafts.append(
            _voucher_edr(
                Operation.REVERSE,
                view,
                before,
                after,
                amount=True,
                subscriber=subscriber_id,
                revenue="reversed",
                buckets=taken,
                fulfilment_request_id=str(request_id) if request_id else None,
                reason=request.reason,
            )
        )
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(
        moved,
        before,
        expiry_of(moved, rules),
        subscriber=subscriber_id,
        fulfilment_request_id=str(request_id) if request_id else None,
    )


def describe(uow: UnitOfWork, serial: int) -> VoucherView:
    with uow:
        view = uow.vouchers.view(serial=serial)
    if view is None:
        raise VoucherNotFound()
    return view


OPERATIONS = {
    Operation.RESERVE: reserve,
    Operation.CONFIRM: confirm,
    Operation.RELEASE: release,
    Operation.REDEEM: redeem,
    Operation.REVERSE: reverse,
    Operation.REISSUE: reissue,
    Operation.CANCEL: cancel,
    Operation.CLOSE: close,
}
