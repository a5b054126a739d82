"""Subscribers and wallets, and the credit/debit primitive that redemptions and rewards use.

``credit`` and ``debit`` run inside a unit of work the caller has already opened, so the
balance movement commits with whatever caused it (a redemption, a reward) and its EDR.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, NotFound
from tessera.domain.ids import new_id
from tessera.domain.paging import Page
from tessera.domain.wallet import (
    ServiceState,
    Subscriber,
    Wallet,
    validate_external_id,
    validate_movement,
)


def upsert_subscriber(
    uow: UnitOfWork,
    external_id: str,
    attributes: dict[str, Any] | None = None,
    service_state: ServiceState | None = None,
) -> tuple[Subscriber, bool]:
    """Create or update by external id; returns the subscriber and whether it is new."""
    external_id = validate_external_id(external_id)
    with uow:
        now = uow.clock()
        subscriber, created = uow.subscribers.upsert(
            external_id, attributes, service_state, now, new_id()
        )
        uow.edrs.append(
            EdrDraft(
                "subscriber.create" if created else "subscriber.update",
                "subscriber",
                external_id,
                status_after=subscriber.service_state.value,
                details={"attributes": subscriber.attributes},
            ),
            now,
        )
        uow.commit()
    return subscriber, created


def ensure_subscriber(uow: UnitOfWork, external_id: str) -> Subscriber:
    """The subscriber, created with an empty profile if this is the first we hear of them
    (inside the caller's transaction): events and redemptions may come before any upsert."""
    found = uow.subscribers.by_external_id(external_id)
    if found is not None:
        return found
    now = uow.clock()
    subscriber, created = uow.subscribers.upsert(
        validate_external_id(external_id), None, None, now, new_id()
    )
    if created:
        uow.edrs.append(subscriber_created_edr(subscriber), now)
    return subscriber


def new_subscriber(external_id: str, now: datetime) -> Subscriber:
    """A subscriber first heard of now: an empty profile, active."""
    external_id = validate_external_id(external_id)
    return Subscriber(new_id(), external_id, {}, ServiceState.ACTIVE, now, now)


def subscriber_created_edr(subscriber: Subscriber) -> EdrDraft:
    return EdrDraft(
        "subscriber.create",
        "subscriber",
        subscriber.external_id,
        status_after=subscriber.service_state.value,
    )


def subscriber_or_404(uow: UnitOfWork, external_id: str) -> Subscriber:
    subscriber = uow.subscribers.by_external_id(external_id)
    if subscriber is None:
        raise NotFound("no such subscriber", code="subscriber_not_found")
    return subscriber


def get_wallet(uow: UnitOfWork, external_id: str) -> Wallet:
    with uow:
        subscriber = subscriber_or_404(uow, external_id)
        return Wallet(subscriber=subscriber, buckets=uow.buckets.of(subscriber.id))


def list_subscribers(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[Subscriber]:
    with uow:
        return uow.subscribers.list(cursor, limit)


def credit(
    uow: UnitOfWork,
    subscriber: Subscriber,
    balance_type: str,
    amount: int,
    expires_at: datetime | None,
    details: dict[str, Any] | None = None,
    edrs: list[EdrDraft] | None = None,
) -> int:
    """Add a bucket to the wallet inside the caller's transaction; returns the bucket id.

    ``edrs``: collect the EDR there instead of writing it now, so that a caller writing
    several (a redemption) saves a round trip per bucket.
    """
    validate_movement(balance_type, amount)
    now = uow.clock()
    bucket_id = uow.buckets.add(subscriber.id, balance_type, amount, expires_at, now)
    draft = credit_edr(subscriber, bucket_id, balance_type, amount, expires_at, details)
    if edrs is not None:
        edrs.append(draft)
    else:
        uow.edrs.append(draft, now)
    return bucket_id


def credit_edr(
    subscriber: Subscriber,
    bucket_id: int,
    balance_type: str,
    amount: int,
    expires_at: datetime | None,
    details: dict[str, Any] | None = None,
) -> EdrDraft:
    """The record of one credit, whichever path wrote the bucket."""
    return EdrDraft(
        "wallet.credit",
        "subscriber",
        subscriber.external_id,
        amount_minor=amount,
        details={
            "balance_type": balance_type,
            "bucket_id": bucket_id,
            "expires_at": expires_at.isoformat() if expires_at else None,
            **(details or {}),
        },
    )


def debit(
    uow: UnitOfWork,
    subscriber: Subscriber,
    balance_type: str,
    amount: int,
    details: dict[str, Any] | None = None,
) -> None:
    """Take ``amount`` from unexpired buckets, soonest expiry first; never below zero.

    The buckets are locked (PostgreSQL) or the database is (SQLite), and each take is a
    compare-and-set, so two debits racing for the last units cannot both succeed.
    """
    validate_movement(balance_type, amount)
    now = uow.clock()
    remaining = amount
    taken: list[dict[str, int]] = []
    for bucket in uow.buckets.spendable(subscriber.id, balance_type, now):
        part = min(bucket.amount, remaining)
        if not uow.buckets.take(bucket.id, part):
            break
        taken.append({"bucket_id": bucket.id, "amount": part})
        remaining -= part
        if remaining == 0:
            break
    if remaining:  # the caller's unit of work rolls back what was taken so far
        raise Conflict(
            f"insufficient {balance_type} balance: {amount - remaining} of {amount} available",
            code="insufficient_balance",
        )
    uow.edrs.append(
        EdrDraft(
            "wallet.debit",
            "subscriber",
            subscriber.external_id,
            amount_minor=amount,
            details={"balance_type": balance_type, "buckets": taken, **(details or {})},
        ),
        now,
    )


def adjust_wallet(
    uow: UnitOfWork,
    external_id: str,
    direction: str,
    balance_type: str,
    amount: int,
    expires_at: datetime | None = None,
    reason: str | None = None,
) -> Wallet:
    """An operator's manual credit or debit, with its EDR."""
    with uow:
        subscriber = subscriber_or_404(uow, external_id)
        details = {"reason": reason} if reason else {}
        if direction == "credit":
            credit(uow, subscriber, balance_type, amount, expires_at, details)
        else:
            debit(uow, subscriber, balance_type, amount, details)
        wallet = Wallet(subscriber=subscriber, buckets=uow.buckets.of(subscriber.id))
        uow.commit()
    return wallet
