"""The port a decided use is written through, and its two adapters.

A ``RedemptionLedger`` writes one ``UseDecision`` all or nothing: the compare-and-set on the
voucher's status, the subscriber when new, the buckets, the fulfilment request, the EDRs and
the outbox rows. It answers the moved voucher, or a ``Decline`` with nothing written. It
never decides: both adapters write what ``decide_use`` returned, nothing more.

- ``UnitOfWorkLedger``: inside the caller's transaction, on either store; its ``write``
  answers at once.
- ``BatchedLedger``: the batched PostgreSQL statement (``adapters/db/repositories/
  quick_use.py``), shared by the concurrent redemptions of a worker; its ``write`` answers an
  awaitable, as that statement is awaited on the event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, TypeVar

from tessera.adapters.db.repositories.quick_use import QuickView, UseWrite, WriteRefused
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.vouchers import Voucher
from tessera.services.notifications import seal_body
from tessera.services.redemption.decision import UseDecision


class Decline(StrEnum):
    """Why a use went to the transactional path (the label of
    ``tessera_redemption_path_total{path="transactional"}``)."""

    OPERATION = "operation"  # not a redeem or confirm by code with a subscriber
    FORMAT_UNKNOWN = "format_unknown"  # the code fits no format known to this worker yet
    NOT_FOUND = "not_found"  # no such code, or the read failed
    BARRED = "barred"
    REFUSED = "refused"  # the rules refuse it: the full answer comes from there
    LOST_RACE = "lost_race"  # the voucher changed, or the subscriber appeared, meanwhile
    WRITE_REFUSED = "write_refused"  # the shared statement was refused (logged as a warning)
    # A stored value's use: its compare-and-set on the spent amount and the retry under a row
    # lock after a lost race (operations.py) are the unit of work's; the shared statement
    # moves statuses only, and 64 tills spending one card would make it a queue of losers.
    STORED_VALUE = "stored_value"


Written = Voucher | Decline  # the voucher moved, or why nothing was written
Answer = TypeVar("Answer", covariant=True)


class RedemptionLedger(Protocol[Answer]):
    """Writes a decided use: ``Written`` (the unit of work's ledger) or an awaitable of it
    (the batched one)."""

    def write(self, decision: UseDecision) -> Answer: ...


class UnitOfWorkLedger:
    """Writes a decided use in the caller's entered unit of work (SQLite or PostgreSQL)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def write(self, decision: UseDecision) -> Written:
        uow, now = self.uow, decision.now
        if decision.new_subscriber:
            s = decision.subscriber
            _created, fresh = uow.subscribers.upsert(s.external_id, None, None, now, s.id)
            if not fresh:  # created by another call meanwhile: decide again with them
                return Decline.LOST_RACE
        shared = decision.view.shared
        if shared is None:
            moved = uow.vouchers.transition(
                decision.voucher,
                decision.expected,
                decision.new_status,
                now,
                subscriber_id=decision.subscriber.id,
                reserved_until=None,
                spent=decision.spent,
            )
        else:
            moved = uow.vouchers.transition_shared(
                decision.voucher,
                shared.issuer_id,
                decision.expected,
                decision.new_status,
                now,
                spent=decision.spent,
            )
        if moved is None:
            return Decline.LOST_RACE
        if shared is not None:
            uow.edrs.append_for_issuer(shared.issuer_id, list(decision.issuer_edrs), now)
        uow.buckets.add_granted(decision.subscriber.id, decision.grants, now)
        if decision.fulfilment is not None:
            f = decision.fulfilment
            uow.fulfilment.add(
                f.id,
                moved.id,
                moved.serial,
                decision.subscriber.id,
                f.offer,
                f.action,
                now,
                parameters=dict(f.parameters),
            )
        uow.edrs.append_many(list(decision.edrs), now)
        for draft in decision.outbox:
            sealed = seal_body(uow.sealer, uow.tenant_id, draft.body)
            rows = [(endpoint_id, sealed) for endpoint_id in draft.endpoints]
            uow.notifications.add_many(draft.event_type, rows, now)
        return moved


class BatchedStore(Protocol):
    """What ``BatchedLedger`` needs of ``quick_use.QuickUses`` (a fake stands in for it in
    the unit tests)."""

    async def view(
        self,
        tenant_id: uuid.UUID,
        code_hash: bytes,
        scopes: Sequence[str],
        subscriber: str,
        *,
        marketplace: bool = False,
    ) -> QuickView | None: ...

    async def use(self, write: UseWrite) -> Voucher | WriteRefused | None: ...


class BatchedLedger:
    """Writes a decided use through the batched PostgreSQL statement, for one caller (the
    tenant, key and sealer of ``uow``, which is not entered)."""

    def __init__(self, store: BatchedStore, uow: UnitOfWork) -> None:
        self.store = store
        self.uow = uow

    async def write(self, decision: UseDecision) -> Written:
        uow = self.uow
        if decision.spent is not None:  # use_quickly declines these before deciding
            return Decline.STORED_VALUE
        outbox = []
        for draft in decision.outbox:
            sealed = seal_body(uow.sealer, uow.tenant_id, draft.body)
            outbox += [(e, draft.event_type, sealed) for e in draft.endpoints]
        f = decision.fulfilment
        moved = await self.store.use(
            UseWrite(
                tenant_id=uow.tenant_id,
                voucher=decision.voucher,
                expected=decision.expected,
                new=decision.new_status,
                now=decision.now,
                subscriber=decision.subscriber,
                new_subscriber=decision.new_subscriber,
                buckets=decision.grants,
                fulfilment=(f.id, f.offer, f.action, dict(f.parameters)) if f else None,
                edrs=decision.edrs,
                outbox=outbox,
                actor_key_id=uow.actor_key_id,
                issuer_id=None if decision.view.shared is None else decision.view.shared.issuer_id,
                issuer_edrs=decision.issuer_edrs,
            )
        )
        if moved is None:
            return Decline.LOST_RACE
        if isinstance(moved, WriteRefused):
            return Decline.WRITE_REFUSED
        return moved
