"""Distribution: one partner code from a list, or from the first list of an ordered set that
still has one, to one subscriber.

``give_code`` runs inside a unit of work the caller has opened (a campaign's reward commits
with the event that earned it); ``distribute`` is the operator's own call around it. Paused,
expired and archived lists are passed over, and so are codes past their expiry.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tessera.adapters.db.repositories.lists import TakenCode
from tessera.adapters.db.repositories.quick_distribution import QuickDistribution
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid, NotFound
from tessera.domain.lists import ListStatus, VoucherList, is_low
from tessera.domain.wallet import Subscriber
from tessera.services.notifications import enqueue
from tessera.services.wallets import ensure_subscriber

MAX_LISTS = 20


@dataclass(frozen=True, slots=True)
class Distribution:
    code: str
    code_id: int
    list_id: uuid.UUID
    list_name: str
    partner: str
    description: str | None
    expires_at: datetime | None
    subscriber: str  # external id
    issued_at: datetime
    campaign: str | None = None
    # The subscriber was at the list's cap (codes_per_subscriber): this is the code it was
    # given last, and nothing was taken.
    already_given: bool = False


def distribute(
    uow: UnitOfWork,
    list_ids: Sequence[uuid.UUID],
    subscriber_external_id: str,
    campaign: str | None = None,
) -> Distribution:
    """Give one code to a subscriber (created if this is the first we hear of them, as a
    redemption or an event would); refused (``lists_exhausted``) if no list has one. A
    subscriber at a list's cap gets the code that list gave it last (``already_given``).

    On PostgreSQL the common case (the first list gives a known subscriber a code) is one
    statement (``quick_distribution.py``); whatever it leaves comes here, decided again."""
    quick = uow.quick_distribution() if list_ids and len(list_ids) <= MAX_LISTS else None
    if quick is not None:
        given = _quickly(uow, quick, list_ids[0], subscriber_external_id, campaign)
        if given is not None:
            return given
    with uow:
        subscriber = ensure_subscriber(uow, subscriber_external_id)
        given = give_code(uow, list_ids, subscriber, campaign, capped=True)
        if given is None:
            raise Conflict(
                "no code is left in these lists (or none of them is active)",
                code="lists_exhausted",
            )
        uow.commit()
    return given


def _quickly(
    uow: UnitOfWork,
    quick: QuickDistribution,
    list_id: uuid.UUID,
    subscriber_external_id: str,
    campaign: str | None,
) -> Distribution | None:
    sealer = uow.sealer  # refuses before anything is taken when TESSERA_LIST_KEY is unset
    now = uow.clock()
    got = quick.give(list_id, subscriber_external_id, campaign, now)
    if got is None:
        return None
    if got.low_stock_armed and is_low(got.issued, got.uploaded, got.low_stock_percent):
        # A concurrent take crossed the threshold first (the statement gives nothing when
        # its own take would): raised here at once, else by the next take through the unit
        # of work. Once: ``arm`` is a compare-and-set.
        with uow:
            voucher_list = uow.lists.get(list_id)
            if voucher_list is not None:
                _raise_low_stock(uow, voucher_list, got.uploaded, got.issued, now)
            uow.commit()
    return Distribution(
        code=sealer.open(got.code_sealed, list_id.bytes).decode(),
        code_id=got.code_id,
        list_id=list_id,
        list_name=got.list_name,
        partner=got.partner,
        description=got.description,
        expires_at=got.expires_at,
        subscriber=subscriber_external_id,
        issued_at=now,
        campaign=campaign,
    )


def code_again(uow: UnitOfWork, code_id: int) -> str | None:
    """The plain value of a code already given (a replayed distribution shows it again)."""
    with uow:
        found = uow.list_codes.sealed(code_id)
    if found is None:
        return None
    list_id, sealed = found
    return uow.sealer.open(sealed, list_id.bytes).decode()


def give_code(
    uow: UnitOfWork,
    list_ids: Sequence[uuid.UUID],
    subscriber: Subscriber,
    campaign: str | None = None,
    *,
    notify: bool = True,
    capped: bool = False,
) -> Distribution | None:
    """Inside the caller's unit of work: take a code, record it (EDR), queue
    ``voucher.rewarded`` (unless ``notify`` is false: a campaign's reward queues its own,
    naming the reward) and, when this issue crosses the threshold, ``voucher_list.low_stock``.

    ``capped`` (a distribution; a campaign's rewards have the campaign's caps instead): each
    list gives the subscriber at most its ``codes_per_subscriber``, counted by a claim on the
    subscriber's holding row before the code is taken; a subscriber at the cap of the first
    list that can answer gets the code that list gave it last, and nothing is taken.

    Returns None when no listed list has a code to give. Every list id must be the tenant's.
    """
    if not list_ids:
        raise Invalid("list_ids", "must name at least one voucher list")
    if len(list_ids) > MAX_LISTS:
        raise Invalid("list_ids", f"must name at most {MAX_LISTS} voucher lists")
    now = uow.clock()
    lists = uow.lists.many(list_ids)
    for list_id in list_ids:
        if list_id not in lists:
            raise NotFound(f"no voucher list {list_id}", code="list_not_found")
    for list_id in dict.fromkeys(list_ids):
        voucher_list = lists[list_id]
        if voucher_list.status(now) is not ListStatus.ACTIVE:
            continue
        cap = voucher_list.spec.codes_per_subscriber
        if capped and not uow.list_holdings.claim(list_id, subscriber.id, cap):
            earlier = uow.list_codes.given_last(list_id, subscriber.id)
            if earlier is not None:
                return _given(uow, voucher_list, earlier, subscriber, campaign, now, True)
            continue  # counted codes that are gone (purged with their list's history)
        taken = uow.list_codes.take(list_id, subscriber.id, now)
        if taken is not None:
            break
        if capped:
            uow.list_holdings.release(list_id, subscriber.id)
    else:
        return None
    given = _given(uow, voucher_list, taken, subscriber, campaign, now, False)
    uow.edrs.append(
        EdrDraft(
            "list.distribute",
            "voucher_list",
            str(list_id),
            status_before="available",
            status_after="issued",
            details={
                "code_id": taken.id,
                "subscriber": subscriber.external_id,
                "campaign": campaign,
            },
        ),
        now,
    )
    if notify:
        enqueue(
            uow,
            "voucher.rewarded",
            {
                "kind": "list_code",
                "list_id": list_id,
                "list": given.list_name,
                "partner": given.partner,
                "code": given.code,
                "description": given.description,
                "expiry": given.expires_at,
                "subscriber": subscriber.external_id,
                "campaign": campaign,
            },
            language=language_of(subscriber),
        )
    # last: the list row is the one lock every distribution from this list shares
    counters = uow.lists.count(list_id, issued=1)
    if counters.low_stock_armed and is_low(
        counters.issued, counters.uploaded, counters.low_stock_percent
    ):
        _raise_low_stock(uow, voucher_list, counters.uploaded, counters.issued, now)
    return given


def _given(
    uow: UnitOfWork,
    voucher_list: VoucherList,
    taken: TakenCode,
    subscriber: Subscriber,
    campaign: str | None,
    now: datetime,
    already_given: bool,
) -> Distribution:
    return Distribution(
        code=uow.sealer.open(taken.code_sealed, voucher_list.id.bytes).decode(),
        code_id=taken.id,
        list_id=voucher_list.id,
        list_name=voucher_list.spec.name,
        partner=voucher_list.spec.partner,
        description=taken.description,
        expires_at=taken.expires_at,
        subscriber=subscriber.external_id,
        issued_at=taken.issued_at or now,
        campaign=campaign,
        already_given=already_given,
    )


def language_of(subscriber: Subscriber) -> str | None:
    """The language a subscriber's messages are written in (profile attribute ``language``)."""
    language = subscriber.attributes.get("language")
    return language if isinstance(language, str) else None


def _raise_low_stock(
    uow: UnitOfWork, voucher_list: VoucherList, uploaded: int, issued: int, now: datetime
) -> None:
    if not uow.lists.arm(voucher_list.id, False):
        return
    spec = voucher_list.spec
    redeemed = voucher_list.utilization.redeemed
    details = {
        "list_id": voucher_list.id,
        "list": spec.name,
        "partner": spec.partner,
        "uploaded": uploaded,
        "issued": issued,
        "redeemed": redeemed,
        "remaining": uploaded - issued,
        "threshold_percent": spec.low_stock_percent,
        "issued_percent": round(100 * issued / uploaded, 2),
    }
    uow.edrs.append(
        EdrDraft(
            "list.low_stock",
            "voucher_list",
            str(voucher_list.id),
            details={k: str(v) if isinstance(v, uuid.UUID) else v for k, v in details.items()},
        ),
        now,
    )
    enqueue(uow, "voucher_list.low_stock", details)
