"""Customer care's lookups: read-only use cases, each in one read transaction of the
caller's tenant (the repository, ``adapters/db/repositories/care.py``, scopes every statement)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.care import (
    AggregateReading,
    CapReading,
    HistoryEntry,
    HistoryQuery,
    RewardQuery,
    RewardView,
    VoucherLookup,
    VoucherQuery,
)
from tessera.domain.errors import NotFound
from tessera.domain.paging import Page
from tessera.domain.wallet import validate_external_id


def find_vouchers(
    uow: UnitOfWork, query: VoucherQuery, cursor: str | None, limit: int
) -> Page[VoucherLookup]:
    query = query.validated()
    with uow:
        return uow.care.vouchers(query, cursor, limit)


def batch_vouchers(
    uow: UnitOfWork, batch_id: uuid.UUID, query: VoucherQuery, cursor: str | None, limit: int
) -> Page[VoucherLookup]:
    """A batch's vouchers (a serial range of it, a status): 404 for a batch not the tenant's."""
    query = dataclasses.replace(query, batch_id=batch_id).validated()
    with uow:
        if uow.batches.get(batch_id) is None:
            raise NotFound("no such batch", code="batch_not_found")
        return uow.care.vouchers(query, cursor, limit)


def subscriber_history(
    uow: UnitOfWork, query: HistoryQuery, cursor: str | None, limit: int
) -> Page[HistoryEntry]:
    query = query.validated()
    with uow:
        return uow.care.history(query, cursor, limit)


def subscriber_aggregates(
    uow: UnitOfWork, subscriber: str, at: datetime | None = None
) -> tuple[datetime, list[AggregateReading], list[CapReading]]:
    """The tenant's aggregates as a condition would read them for ``subscriber`` at ``at``
    (default now), and the per-subscriber cap counts of each campaign that rewarded them."""
    subscriber = validate_external_id(subscriber)
    with uow:
        moment = at or uow.clock()
        return moment, uow.care.aggregates(subscriber, moment), uow.care.caps(subscriber, moment)


def find_rewards(
    uow: UnitOfWork, query: RewardQuery, cursor: str | None, limit: int
) -> Page[RewardView]:
    query = query.validated()
    with uow:
        return uow.care.rewards(query, cursor, limit)
