"""The operations through the unit of work (both stores): each runs in one transaction —
find the voucher (by code hash or serial) with its type and lifecycle, ask the domain whether
the operation may happen, apply it with a compare-and-set on the status, move the wallet,
append the EDRs, commit. A lost race surfaces as the transition table's 409 with the status
the winner left. A use (redeem, confirm) is decided by ``decision.decide_use``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any

from tessera.adapters.db.repositories.vouchers import VoucherView
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.code_hash import code_hash
from tessera.domain.codes import CodeFormat, is_well_formed
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, DomainError, Invalid
from tessera.domain.ids import new_id
from tessera.domain.money import Money, Take, check_currency
from tessera.domain.revenue import voucher_revenue
from tessera.domain.statuses import IllegalTransition, Operation, VoucherStatus
from tessera.domain.vouchers import (
    BarPolicy,
    Barred,
    CodeMistyped,
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
from tessera.services.notifications import subscriptions
from tessera.services.redemption.decision import (
    USE_EVENTS,
    UseDecision,
    check_edr,
    decide_use,
    purchase_take,
    release_lapsed_hold,
    take_details,
    voucher_edr,
)
from tessera.services.redemption.ledger import Decline, UnitOfWorkLedger
from tessera.services.wallets import (
    ensure_subscriber,
)

S = VoucherStatus
REDEEM_EDRS = ["voucher.redeem", "voucher.confirm"]
REVERSE_EDR = "voucher.reverse"


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
    offer_parameters: Mapping[str, str] | None = None  # sent with a fulfilment offer
    purchase: Money | None = None  # what a point of sale sells, for a voucher worth money


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
    take: Take | None = None  # what a voucher worth money took off the purchase
    given_back_minor: int | None = None  # what a reversal gave back to a stored value


@dataclass(frozen=True, slots=True)
class Validation:
    verdict: Verdict
    view: VoucherView | None
    expires_at: datetime | None
    take: Take | None = None  # what the voucher would take off the purchase sent


# --- finding the voucher, and counting wrong codes ----------------------------------------


def _locate(
    uow: UnitOfWork,
    secret: bytes,
    target: Target,
    subscriber: str | None,
    policy: BarPolicy,
    *,
    locked: bool = False,
    marketplace: bool = False,
) -> VoucherView:
    """The voucher named by ``target``, of the caller's own; with ``marketplace`` (validate
    and redeem by code) also among the types other tenants of its group share with it,
    looked for only when the caller has no voucher of that code."""
    now = uow.clock()
    if target.serial is not None:
        found = uow.vouchers.view(serial=target.serial, subscriber=subscriber, locked=locked)
        if found is None:
            raise VoucherNotFound()
        return found
    assert target.code is not None
    if not _well_formed(uow, target.code):
        raise CodeMistyped()  # counts towards no bar: it cannot be a guess at a real code
    scopes = bar_scopes(uow.actor_key_id, subscriber)
    hashed = code_hash(secret, target.code)
    view = uow.vouchers.view(
        code_hash=hashed, bar_scopes=scopes, subscriber=subscriber, locked=locked
    )
    if view is None and marketplace:
        view = uow.vouchers.view(
            code_hash=hashed, bar_scopes=scopes, subscriber=subscriber, locked=locked, shared=True
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


def known_format(tenant_id: uuid.UUID, raw_code: str) -> bool:
    """Plausible and passing a format already known, with no query."""
    known = _known_formats.get(tenant_id, frozenset())
    return is_plausible_code(raw_code) and any(is_well_formed(fmt, raw_code) for fmt in known)


def _well_formed(uow: UnitOfWork, raw_code: str) -> bool:
    """Shape first (cheap), then the check character of any format the tenant issues codes
    in: a typing error is refused without looking a voucher up."""
    if not is_plausible_code(raw_code):
        return False
    if known_format(uow.tenant_id, raw_code):
        return True
    known = _known_formats.get(uow.tenant_id, frozenset())
    with uow:
        fresh = frozenset(
            {DEFAULT_FORMAT, *uow.batches.formats_in_use(), *uow.batches.formats_shared_with_me()}
        )
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
            EdrDraft(
                "voucher.validate_failed",
                "caller",
                scope,
                details={"reason": "unknown", "channel": "code"},
            )
        )
        if bar is not None:
            drafts.append(
                EdrDraft(
                    "voucher.bar",
                    "caller",
                    scope,
                    details={
                        "barred_until": bar.isoformat(),
                        "threshold": policy.threshold_of(scope),
                    },
                )
            )
    uow.edrs.append_many(drafts, now)
    uow.commit()
    raise CodeUnknown()


def _lost_race(
    uow: UnitOfWork, voucher: Voucher, operation: Operation, *, shared: bool = False
) -> Conflict:
    now = uow.clock()
    current = uow.vouchers.get_shared(voucher.id) if shared else uow.vouchers.get(voucher.id)
    if current is None:
        return Conflict("the voucher was removed meanwhile", code="concurrent_change")
    return IllegalTransition(current.effective_status(now), operation)


# --- refusals on the record -------------------------------------------------------------

UseCase = Callable[[UnitOfWork, bytes, Request, BarPolicy], "Outcome"]


def channel_of(target: Target) -> str:
    """How the caller named the voucher: a point of sale by its code, an operator by serial."""
    return "code" if target.code is not None else "serial"


def recorded(operation: Operation) -> Callable[[UseCase], UseCase]:
    """Every refused use of a voucher that can be named leaves an EDR: who (the key, on every
    EDR), why (the refusal's code) and by which channel. The refusal's own transaction is
    rolled back with whatever it had written, so the record is written in one of its own
    (under an Idempotency-Key, a savepoint of the key's transaction, stored with the answer).
    An unknown code has its own record (``voucher.validate_failed``, counted towards a bar);
    once barred, a caller's guesses are refused without one, so a guessing script cannot
    fill the records (a real code it presents is recorded on its voucher)."""

    def decorate(use_case: UseCase) -> UseCase:
        @wraps(use_case)
        def run(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
            try:
                return use_case(uow, secret, request, policy)
            except (Conflict, Barred) as refusal:
                _record_refusal(uow, secret, request, operation, refusal)
                raise

        return run

    return decorate


def _record_refusal(
    uow: UnitOfWork, secret: bytes, request: Request, operation: Operation, refusal: DomainError
) -> None:
    """The voucher is read again rather than carried with the refusal: after a lost race the
    winner has moved it, and the record shows the status it has now (refusals only)."""
    target = request.target
    with uow:
        now = uow.clock()
        if target.serial is not None:
            view = uow.vouchers.view(serial=target.serial)
        else:
            assert target.code is not None
            hashed = code_hash(secret, target.code)
            view = uow.vouchers.view(code_hash=hashed)
            if view is None and operation is Operation.REDEEM:  # a marketplace code's
                view = uow.vouchers.view(code_hash=hashed, shared=True)
        if view is None:  # removed meanwhile
            return
        status = view.voucher.effective_status(now)
        uow.edrs.append(
            check_edr(
                view,
                status,
                f"voucher.{operation.value}_refused",
                reason=refusal.code,
                channel=channel_of(target),
                subscriber=request.subscriber,
                activity_at=request.activity_at.isoformat() if request.activity_at else None,
            ),
            now,
        )
        uow.commit()


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
            view = _locate(uow, secret, request.target, subscriber, policy, marketplace=True)
        except (CodeUnknown, VoucherNotFound):
            return Validation(Verdict.UNKNOWN, None, None)
        rules = view.lifecycle.rules
        found = verdict(view.voucher, rules, activity, now)
        status = view.voucher.effective_status(now)
        take = _would_take(view, request.purchase, usable=found is Verdict.USABLE)
        uow.edrs.append(
            check_edr(
                view,
                status,
                "voucher.validate",
                verdict=found.value,
                channel=channel_of(request.target),
                subscriber=subscriber,
                activity_at=request.activity_at.isoformat() if request.activity_at else None,
                **take_details(take),
            ),
            now,
        )
        uow.commit()
        return Validation(found, view, expiry_of(view.voucher, rules), take)


def _would_take(view: VoucherView, purchase: Money | None, *, usable: bool) -> Take | None:
    """What a use now would take off the purchase sent to a check (validate, reserve): none
    without a purchase, or for a voucher that cannot be used (a purchase in another currency
    is refused all the same)."""
    spec = view.voucher_type.spec
    if purchase is None or spec.purchase_value is None:
        return None
    if not usable:
        check_currency(spec.currency, purchase)
        return None
    return purchase_take(view, purchase)


def _optional_subscriber(external_id: str | None) -> str | None:
    return None if external_id is None else validate_external_id(external_id)


def _required_subscriber(external_id: str | None) -> str:
    if external_id is None:
        raise Invalid("subscriber", "is required: the wallet to credit (an MSISDN or customer id)")
    return validate_external_id(external_id)


# --- uses by a subscriber -----------------------------------------------------------------


@recorded(Operation.REDEEM)
def redeem(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """available -> used in one step, crediting the subscriber's wallet."""
    external_id = _required_subscriber(request.subscriber)
    return _use(uow, secret, request, policy, Operation.REDEEM, external_id)


@recorded(Operation.CONFIRM)
def confirm(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """reserved -> used; the wallet credited is the one named now, or the one that reserved."""
    external_id = _optional_subscriber(request.subscriber)
    return _use(uow, secret, request, policy, Operation.CONFIRM, external_id)


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
        locked = False
        marketplace = operation is Operation.REDEEM
        while True:
            view = _locate(
                uow, secret, request.target, external_id, policy,
                locked=locked, marketplace=marketplace,
            )  # fmt: skip
            plan(view.voucher, operation, view.lifecycle.rules, activity, now)  # before writing
            subscriber = _redeemer(uow, view, external_id, now)
            offer = view.voucher_type.spec.fulfilment_offer
            decision = decide_use(
                view,
                operation,
                subscriber,
                new_subscriber=False,  # _redeemer found or created them, with their EDR
                activity=activity,
                now=now,
                bucket_ids=[]
                if offer
                else uow.buckets.allocate_ids(len(view.voucher_type.spec.buckets)),
                request_id=new_id() if offer else None,
                subscriptions=subscriptions(uow, USE_EVENTS),
                offer_parameters=request.offer_parameters,
                purchase=request.purchase,
            )
            moved = UnitOfWorkLedger(uow).write(decision)
            if not isinstance(moved, Decline):
                break
            if decision.spent is None or locked:
                raise _lost_race(uow, view.voucher, operation, shared=view.shared is not None)
            # Another till spent some of this stored value meanwhile (nothing of this use was
            # written): decide again on what is left, read under the row's lock, so that of
            # many tills spending one card each waits its turn instead of losing.
            locked = True
        uow.commit()
    return outcome_of(decision, moved)


def outcome_of(decision: UseDecision, moved: Voucher) -> Outcome:
    """The answer to a use, whichever ledger wrote it."""
    fulfilment = decision.fulfilment
    return Outcome(
        voucher=moved,
        status_before=decision.expected,
        expires_at=decision.expires_at(moved),
        subscriber=decision.subscriber.external_id,
        credits=[
            Credit(g.bucket_id, g.balance_type, g.amount, g.expires_at) for g in decision.grants
        ],
        fulfilment_request_id=str(fulfilment.id) if fulfilment else None,
        take=decision.take,
    )


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


@recorded(Operation.RESERVE)
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
        take = _would_take(view, request.purchase, usable=True)
        values: dict[str, Any] = {"reserved_until": now + rules.hold}
        if external_id is not None:
            values["subscriber_id"] = ensure_subscriber(uow, external_id).id
        moved = uow.vouchers.transition(view.voucher, before, after, now, **values)
        if moved is None:
            raise _lost_race(uow, view.voucher, Operation.RESERVE)
        drafts = release_lapsed_hold(view, before)
        drafts.append(
            voucher_edr(
                Operation.RESERVE,
                view,
                before,
                after,
                subscriber=external_id,
                reserved_until=values["reserved_until"].isoformat(),
                **take_details(take),
            )
        )
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(moved, before, expiry_of(moved, rules), subscriber=external_id, take=take)


# --- changes without a wallet -------------------------------------------------------------


@recorded(Operation.RELEASE)
def release(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """reserved -> available (also a hold that has lapsed but is not yet swept)."""
    return _simple(uow, secret, request, policy, Operation.RELEASE, reserved_until=None)


@recorded(Operation.CANCEL)
def cancel(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """The holder gives the voucher back (available or reserved only)."""
    return _simple(uow, secret, request, policy, Operation.CANCEL, reserved_until=None)


@recorded(Operation.CLOSE)
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
        drafts = [] if operation is Operation.RELEASE else release_lapsed_hold(view, before)
        drafts.append(voucher_edr(operation, view, before, after, reason=request.reason))
        spec = view.voucher_type.spec
        drafts += voucher_revenue(view.voucher, spec, before, after, now, operation.value)
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(moved, before, expiry_of(moved, rules))


@recorded(Operation.REISSUE)
def reissue(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """available or reserved -> reissued; the replacement (its code returned once) is
    available, or reserved when the old one was, and refers to the old one."""
    with uow:
        now = uow.clock()
        view = _locate(uow, secret, request.target, None, policy)
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, Operation.REISSUE, rules, now, now)
        # A stored value's replacement takes over what is left: the spent amount it was read
        # with must still be the voucher's (a use meanwhile would be given twice).
        value, spent = view.voucher_type.spec.purchase_value, view.voucher.value_spent_minor
        moved = uow.vouchers.transition(
            view.voucher,
            before,
            after,
            now,
            reserved_until=None,
            spent=(spent, spent) if value is not None and value.stored else None,
        )
        if moved is None:
            raise _lost_race(uow, view.voucher, Operation.REISSUE)
        old = view.voucher
        new, code = issue_voucher(uow, old.voucher_type_id, secret, status=before, replaces=old)
        drafts = release_lapsed_hold(view, before)
        drafts.append(
            voucher_edr(
                Operation.REISSUE,
                view,
                before,
                after,
                replacement_serial=new.serial,
                reason=request.reason,
            )
        )
        # Out of sellable here; the replacement came in with its issue (issue_voucher).
        spec = view.voucher_type.spec
        drafts += voucher_revenue(old, spec, before, after, now, Operation.REISSUE.value)
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(moved, before, expiry_of(moved, rules), replacement=new, replacement_code=code)


@recorded(Operation.REVERSE)
def reverse(uow: UnitOfWork, secret: bytes, request: Request, policy: BarPolicy) -> Outcome:
    """used -> available, taking back exactly the buckets the redemption credited; refused
    with ``credit_spent`` (nothing changes) when any of them has been spent."""
    with uow:
        now = uow.clock()
        view = _locate(uow, secret, request.target, None, policy)
        value = view.voucher_type.spec.purchase_value
        if value is not None and value.stored:
            given_back = _give_back(uow, view, request, now)
            uow.commit()
            return given_back
        rules = view.lifecycle.rules
        before, after = plan(view.voucher, Operation.REVERSE, rules, now, now)
        redemption = uow.edrs.latest("voucher", str(view.voucher.serial), REDEEM_EDRS)
        if redemption is not None and "redeeming_brand" in redemption.details:
            # The credit is in the redeeming brand's wallet, out of this tenant's reach.
            raise Conflict(
                "this voucher was used at another brand (a marketplace use): it cannot be "
                "reversed here",
                code="marketplace_use_not_reversible",
            )
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
                request_id,
            )
        drafts.append(
            voucher_edr(
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
        spec = view.voucher_type.spec
        drafts += voucher_revenue(view.voucher, spec, before, after, now, Operation.REVERSE.value)
        uow.edrs.append_many(drafts, now)
        uow.commit()
    return Outcome(
        moved,
        before,
        expiry_of(moved, rules),
        subscriber=subscriber_id,
        fulfilment_request_id=str(request_id) if request_id else None,
    )


def _give_back(uow: UnitOfWork, view: VoucherView, request: Request, now: datetime) -> Outcome:
    """A stored value's reversal: the newest use not yet reversed gives back what it took,
    by compare-and-set on the spent amount, and the voucher is available again (used up or
    not). Each reversal names the use it undid, so none is given back twice."""
    voucher, spec = view.voucher, view.voucher_type.spec
    assert spec.purchase_value is not None
    assert spec.purchase_value.amount_minor is not None
    before = voucher.effective_status(now)
    records = uow.edrs.of_subject("voucher", str(voucher.serial), [*REDEEM_EDRS, REVERSE_EDR])
    undone = {r.details.get("reverses_edr_id") for r in records if r.operation == REVERSE_EDR}
    uses = [
        r
        for r in records
        if r.operation != REVERSE_EDR and r.id not in undone and "taken_minor" in r.details
    ]
    if before not in (S.AVAILABLE, S.USED) or not uses:
        raise IllegalTransition(before, Operation.REVERSE)
    use = uses[-1]
    taken = int(use.details["taken_minor"])
    spent = (voucher.value_spent_minor, voucher.value_spent_minor - taken)
    moved = uow.vouchers.transition(
        voucher, before, S.AVAILABLE, now, spent=spent, reserved_until=None
    )
    if moved is None:
        raise Conflict("the voucher changed meanwhile: try again", code="concurrent_change")
    subscriber_id = use.details.get("subscriber")
    drafts = [
        voucher_edr(
            Operation.REVERSE,
            view,
            before,
            S.AVAILABLE,
            taken=taken,
            subscriber=subscriber_id,
            revenue="reversed" if before is S.USED else None,
            reverses_edr_id=use.id,
            given_back_minor=taken,
            left_minor=spec.purchase_value.amount_minor - spent[1],
            reason=request.reason,
        )
    ]
    drafts += voucher_revenue(voucher, spec, before, S.AVAILABLE, now, Operation.REVERSE.value)
    uow.edrs.append_many(drafts, now)
    return Outcome(
        moved,
        before,
        expiry_of(moved, view.lifecycle.rules),
        subscriber=subscriber_id,
        given_back_minor=taken,
    )


@dataclass(frozen=True, slots=True)
class Described:
    """One voucher as an operator reads it: its view, when it expires, and the vouchers a
    reissue links it to (the one it replaced, the one that replaced it)."""

    view: VoucherView
    expires_at: datetime | None
    replaces_serial: int | None
    replaced_by_serial: int | None

    @property
    def voucher(self) -> Voucher:
        return self.view.voucher


def describe(uow: UnitOfWork, serial: int) -> Described:
    with uow:
        view = uow.vouchers.view(serial=serial)
        if view is None:
            raise VoucherNotFound()
        voucher = view.voucher
        replaced = uow.vouchers.get(voucher.replaces_id) if voucher.replaces_id else None
        replacement = (
            uow.vouchers.replacement_of(voucher.id) if voucher.status is S.REISSUED else None
        )
    return Described(
        view,
        expiry_of(voucher, view.lifecycle.rules),
        replaced.serial if replaced else None,
        replacement.serial if replacement else None,
    )


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
