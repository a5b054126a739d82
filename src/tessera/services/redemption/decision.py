"""The one rule of a use (redeem or confirm), decided once, written by either ledger.

``decide_use`` is pure: from the voucher's view, the operation, the subscriber, the times and
the ids drawn for the new rows, it returns every change a use makes — the compare-and-set
expectation, the subscriber when new, the buckets, the fulfilment request, the EDRs and the
notifications with their outbox rows (payloads rendered for the tenant's subscribed
endpoints, read with the voucher) — or raises the domain's refusal. Either ledger
(``ledger.py``: the unit of work, or the batched PostgreSQL statement) writes a decision;
neither decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tessera.adapters.db.repositories.vouchers import VoucherView
from tessera.domain.catalog import VoucherType
from tessera.domain.edr import EdrDraft
from tessera.domain.fulfilment import Action, FulfilmentUnavailable
from tessera.domain.fulfilment import offer_parameters as checked_parameters
from tessera.domain.marketplace import Side
from tessera.domain.money import Money, Take, take_off
from tessera.domain.revenue import voucher_revenue
from tessera.domain.statuses import Operation, VoucherStatus
from tessera.domain.vouchers import Voucher, expiry_of, plan
from tessera.domain.wallet import BucketGrant, ServiceState, Subscriber, SubscriberInactive
from tessera.services.notifications import Subscriptions, message_body
from tessera.services.voucher_events import FULFILMENT_REQUESTED, VOUCHER_REDEEMED
from tessera.services.wallets import credit_edr, subscriber_created_edr

S = VoucherStatus
USE_EVENTS = (FULFILMENT_REQUESTED, VOUCHER_REDEEMED)  # what a use may notify


@dataclass(frozen=True, slots=True)
class FulfilmentDraft:
    """A request to the tenant's order system, instead of buckets (a type with an offer)."""

    id: uuid.UUID
    offer: str
    action: str
    parameters: Mapping[str, str]  # sent with the use, within what the type allows


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification the use queues (``voucher.redeemed``, ``fulfilment.requested``)."""

    event_type: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxDraft:
    """One notice for the outbox: its payload (rendered, sealed by the ledger that writes
    it) queued once for each endpoint."""

    event_type: str
    body: dict[str, Any]
    endpoints: tuple[uuid.UUID, ...]


@dataclass(frozen=True, slots=True)
class UseDecision:
    operation: Operation
    view: VoucherView
    expected: VoucherStatus  # the compare-and-set: the status the voucher must still have
    new_status: VoucherStatus
    subscriber: Subscriber
    new_subscriber: bool  # to be created with the use (the batched ledger's case)
    grants: tuple[BucketGrant, ...]
    fulfilment: FulfilmentDraft | None
    edrs: tuple[EdrDraft, ...]
    notices: tuple[Notice, ...]
    outbox: tuple[OutboxDraft, ...]  # the notices some endpoint of the tenant wants
    activity: datetime
    now: datetime
    # A marketplace use: the issuer's side, written in the issuer's records (its voucher
    # moved; its revenue is recognized). The caller's ``edrs`` hold the redeeming side.
    issuer_edrs: tuple[EdrDraft, ...] = ()
    take: Take | None = None  # what a voucher worth money takes off the purchase

    @property
    def spent(self) -> tuple[int, int] | None:
        """A stored value's spent amount as read and as it becomes (the compare-and-set)."""
        take = self.take
        if take is None or take.spent_before is None or take.spent_after is None:
            return None
        return take.spent_before, take.spent_after

    @property
    def voucher(self) -> Voucher:
        return self.view.voucher

    @property
    def lapsed_hold(self) -> bool:
        """A reservation whose hold has passed is used as available (the sweeper's work)."""
        return self.voucher.status is S.RESERVED and self.expected is S.AVAILABLE

    def expires_at(self, moved: Voucher) -> datetime | None:
        return expiry_of(moved, self.view.lifecycle.rules)


def decide_use(
    view: VoucherView,
    operation: Operation,
    subscriber: Subscriber,
    *,
    new_subscriber: bool,
    activity: datetime,
    now: datetime,
    bucket_ids: Sequence[int],
    request_id: uuid.UUID | None,
    subscriptions: Subscriptions,
    offer_parameters: Mapping[str, str] | None = None,
    purchase: Money | None = None,
) -> UseDecision:
    """What redeeming (or confirming) the voucher of ``view`` for ``subscriber`` changes.

    ``bucket_ids``: one per bucket template of the type, drawn by the ledger; ``request_id``:
    the fulfilment request's id when the type has an offer; ``subscriptions``: where the
    tenant's notifications of ``USE_EVENTS`` go; ``offer_parameters``: what the caller sends
    with the offer; ``purchase``: what the point of sale sells, for a voucher worth money.
    Raises the domain's refusal (the transition table's, expired, not yet valid, a terminated
    subscriber, an offer nobody would be asked to deliver, a purchase missing or in another
    currency, a stored value spent) before anything is written."""
    before, after = plan(view.voucher, operation, view.lifecycle.rules, activity, now)
    if subscriber.service_state is ServiceState.TERMINATED:
        raise SubscriberInactive(subscriber.external_id)
    take = purchase_take(view, purchase)
    if take is not None and take.left_minor is not None and not take.exhausts:
        after = S.AVAILABLE  # a stored value with some left stays usable (a hold ends)
    spec = view.voucher_type.spec
    parameters = checked_parameters(spec.fulfilment_parameters, offer_parameters)
    shared = view.shared
    # An offer is the issuer's order system's to deliver: a marketplace type has none.
    no_one_delivers = not subscriptions.to(FULFILMENT_REQUESTED) or shared is not None
    if spec.fulfilment_offer is not None and no_one_delivers:
        raise FulfilmentUnavailable(spec.name)
    attribution: dict[str, Any] = (
        {"issuing_brand": str(shared.issuer_id), "redeeming_brand": str(shared.redeemer_id)}
        if shared
        else {}
    )
    serial = view.voucher.serial
    drafts = [subscriber_created_edr(subscriber)] if new_subscriber else []
    drafts += release_lapsed_hold(view, before)
    grants: tuple[BucketGrant, ...] = ()
    fulfilment = None
    notices: list[Notice] = []
    if spec.fulfilment_offer is not None:
        if request_id is None:
            raise ValueError("a type with a fulfilment offer needs a request id")
        fulfilment = FulfilmentDraft(
            request_id, spec.fulfilment_offer, Action.ACTIVATE.value, parameters
        )
        notices.append(
            Notice(
                FULFILMENT_REQUESTED,
                {
                    "request_id": str(request_id),
                    "serial": serial,
                    "voucher_type": spec.name,
                    "offer": spec.fulfilment_offer,
                    "parameters": parameters,
                    "action": Action.ACTIVATE.value,
                    "subscriber": subscriber.external_id,
                    "redeemed_at": now,
                },
            )
        )
    else:
        grants = tuple(
            BucketGrant(bucket_id, b.balance_type, b.amount, bucket_expiry(now, b.validity_days))
            for bucket_id, b in zip(bucket_ids, spec.buckets, strict=True)
        )
        source = {"voucher_serial": serial}
        drafts += [
            credit_edr(subscriber, g.bucket_id, g.balance_type, g.amount, g.expires_at, source)
            for g in grants
        ]
    drafts.append(
        voucher_edr(
            operation,
            view,
            before,
            after,
            amount=True,
            taken=take.taken_minor if take else None,
            subscriber=subscriber.external_id,
            activity_at=activity.isoformat(),
            revenue="recognized",
            buckets=[
                {"bucket_id": g.bucket_id, "balance_type": g.balance_type, "amount": g.amount}
                for g in grants
            ],
            fulfilment_request_id=str(request_id) if fulfilment else None,
            **take_details(take),
            **attribution,
            side=Side.REDEEMER.value if shared else None,
        )
    )
    # At the activity time: a use reported in the grace period is revenue of when it was.
    revenue = voucher_revenue(view.voucher, spec, before, after, activity, operation.value)
    issuer_edrs: tuple[EdrDraft, ...] = ()
    if shared is None:
        drafts += revenue
    else:  # the issuer's voucher and revenue; never the redeeming brand's subscriber
        issuer_side = voucher_edr(
            operation, view, before, after, amount=True,
            taken=take.taken_minor if take else None, activity_at=activity.isoformat(),
            revenue="recognized", **take_details(take), **attribution, side=Side.ISSUER.value,
        )  # fmt: skip
        issuer_edrs = (issuer_side, *revenue)
    notices.append(
        Notice(
            VOUCHER_REDEEMED,
            {
                "serial": serial,
                "code_last4": view.voucher.code_last4,
                "voucher_type": spec.name,
                "subscriber": subscriber.external_id,
                "redeemed_at": activity,
                "amount_minor": spec.cost_minor,
                "currency": spec.currency,
                **take_details(take),
            },
        )
    )
    outbox = tuple(
        OutboxDraft(
            n.event_type,
            message_body(n.event_type, n.details, now, subscriptions.templates.get(n.event_type)),
            subscriptions.to(n.event_type),
        )
        for n in notices
        if subscriptions.to(n.event_type)
    )
    return UseDecision(
        operation, view, before, after, subscriber, new_subscriber, grants, fulfilment,
        tuple(drafts), tuple(notices), outbox, activity, now, issuer_edrs, take,
    )  # fmt: skip


def purchase_take(view: VoucherView, purchase: Money | None) -> Take | None:
    """What the voucher of ``view`` takes off ``purchase`` now (None: a type not worth money,
    whatever was sent); a use and a validation both ask this."""
    spec = view.voucher_type.spec
    if spec.purchase_value is None:
        return None
    return take_off(spec.purchase_value, spec.currency, purchase, view.voucher.value_spent_minor)


def take_details(take: Take | None) -> dict[str, Any]:
    """A use's record of the purchase: what it cost, what the voucher took off it, and what
    is left of a stored value (each partial use is its own record)."""
    if take is None:
        return {}
    found = {"purchase_minor": take.purchase.amount_minor, "taken_minor": take.taken_minor}
    return found if take.left_minor is None else found | {"left_minor": take.left_minor}


def bucket_expiry(now: datetime, validity_days: int | None) -> datetime | None:
    return now + timedelta(days=validity_days) if validity_days else None


def voucher_edr(
    operation: Operation,
    view: VoucherView,
    before: VoucherStatus,
    after: VoucherStatus,
    *,
    amount: bool = False,
    taken: int | None = None,
    **details: Any,
) -> EdrDraft:
    """The record of one operation on a voucher (with its cost when it moves revenue; for a
    voucher worth money, with the amount ``taken`` off the purchase or given back)."""
    return voucher_record(
        operation, view.voucher, view.voucher_type, before, after, amount=amount, taken=taken,
        **details,
    )  # fmt: skip


def voucher_record(
    operation: Operation,
    voucher: Voucher,
    voucher_type: VoucherType,
    before: VoucherStatus,
    after: VoucherStatus,
    *,
    amount: bool = False,
    taken: int | None = None,
    **details: Any,
) -> EdrDraft:
    """``voucher_edr`` for a caller that holds the voucher and its type but no view (the
    fulfilment loop giving a voucher back)."""
    spec = voucher_type.spec
    return EdrDraft(
        f"voucher.{operation.value}",
        "voucher",
        str(voucher.serial),
        status_before=before.value,
        status_after=after.value,
        amount_minor=taken if taken is not None else spec.cost_minor if amount else None,
        currency=spec.currency if amount or taken is not None else None,
        details={"voucher_type": spec.name, "voucher_type_id": str(voucher.voucher_type_id)}
        | {k: v for k, v in details.items() if v is not None},
    )


def check_edr(view: VoucherView, status: VoucherStatus, operation: str, **details: Any) -> EdrDraft:
    """The record of a check that changed nothing: a validation (with its verdict) or a
    refused use (``voucher.<operation>_refused``, with the refusal's code as its reason)."""
    spec = view.voucher_type.spec
    return EdrDraft(
        operation,
        "voucher",
        str(view.voucher.serial),
        status_before=status.value,
        status_after=status.value,
        details={"voucher_type": spec.name, "voucher_type_id": str(view.voucher.voucher_type_id)}
        | {k: v for k, v in details.items() if v is not None},
    )


def release_lapsed_hold(view: VoucherView, before: VoucherStatus) -> list[EdrDraft]:
    """A lapsed hold that is used is released first, on the record, as the sweeper would."""
    if view.voucher.status is S.RESERVED and before is S.AVAILABLE:
        return [voucher_edr(Operation.RELEASE, view, S.RESERVED, S.AVAILABLE, cause="hold_lapsed")]
    return []
