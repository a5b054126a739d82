"""Customer care's lookups, read-only and tenant-scoped like every repository (base.py).

Each lookup is one keyset-paged statement (two for a voucher type with batches) that walks
an index in the order it answers: vouchers by serial, a subscriber's EDRs by id, rewards by
(rewarded_at, id). tables.py says which index serves which filter.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.repositories.catalog import _lifecycle
from tessera.adapters.db.repositories.rewards import _campaign, _definition
from tessera.adapters.db.repositories.vouchers import _prefixed, _voucher
from tessera.domain.care import (
    KIND_OF,
    REFUSED_SUFFIX,
    AggregateReading,
    CapReading,
    HistoryEntry,
    HistoryQuery,
    RewardQuery,
    RewardView,
    VoucherLookup,
    VoucherQuery,
    kind_filter,
    kind_of,
)
from tessera.domain.paging import Page
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import expiry_of

v, lc, sb, b, e, r = t.vouchers, t.lifecycles, t.subscribers, t.batches, t.edrs, t.rewards

# A type with more batches than this (past the cursor) is read in serial order instead of
# batch by batch: SQLite allows 500 terms in a compound SELECT, and each costs a probe.
_MAX_BATCH_PARTS = 100

# Statuses the partial index ix_vouchers_by_later_status holds (tables.LATER_STATUS).
_EARLY = {VoucherStatus.PENDING, VoucherStatus.AVAILABLE}


def _lookup(row: sa.RowMapping) -> VoucherLookup:
    voucher = _voucher(row)
    lifecycle = _lifecycle(_prefixed(row, "lc_"))  # type: ignore[arg-type]
    return VoucherLookup(voucher, row["holder"], expiry_of(voucher, lifecycle.rules))


def _entry(row: sa.RowMapping) -> HistoryEntry:
    return HistoryEntry(
        id=row["id"],
        at=row["occurred_at"],
        kind=kind_of(row["operation"]),
        operation=row["operation"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        status_before=row["status_before"],
        status_after=row["status_after"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        details=row["details"],
    )


def _reward(row: sa.RowMapping) -> RewardView:
    return RewardView(**{name: row[name] for name in RewardView.__slots__})


class CareReads(TenantScoped):
    table = v

    # --- vouchers ------------------------------------------------------------------------

    def _holder_id(self, external_id: str) -> sa.ScalarSelect[Any]:
        return (
            sa.select(sb.c.id)
            .where(self._mine(sb), sb.c.external_id == external_id)
            .scalar_subquery()
        )

    def _voucher_filters(self, q: VoucherQuery) -> list[Any]:
        where: list[Any] = [self._mine(v)]  # columns, and the partial indexes' conditions
        if q.subscriber is not None:
            where += [sa.text(t.HAS_SUBSCRIBER), v.c.subscriber_id == self._holder_id(q.subscriber)]
        if q.status is not None:
            where.append(v.c.status == q.status.value)
            if q.status not in _EARLY and q.subscriber is None and q.last4 is None:
                # Only then: SQLite would take this index over a more selective one.
                where.append(sa.text(t.LATER_STATUS))
        if q.voucher_type_id is not None:
            where.append(v.c.voucher_type_id == q.voucher_type_id)
        if q.batch_id is not None:
            where.append(v.c.batch_id == q.batch_id)
        if q.last4 is not None:
            where.append(v.c.code_last4 == q.last4)
        if q.since is not None:
            where.append(v.c.status_changed_at >= q.since)
        if q.until is not None:
            where.append(v.c.status_changed_at < q.until)
        if q.serial_from is not None:
            where.append(v.c.serial >= q.serial_from)
        if q.serial_to is not None:
            where.append(v.c.serial <= q.serial_to)
        return where

    def _batches_of_type(self, voucher_type_id: uuid.UUID, after: int | None) -> list[uuid.UUID]:
        """The type's batches that may still hold a voucher past ``after``."""
        stmt = sa.select(b.c.id).where(self._mine(b), b.c.voucher_type_id == voucher_type_id)
        if after is not None:
            stmt = stmt.where(sa.or_(b.c.serial_last.is_(None), b.c.serial_last > after))
        return list(self.conn.execute(stmt.order_by(b.c.id).limit(_MAX_BATCH_PARTS + 1)).scalars())

    def vouchers(self, q: VoucherQuery, cursor: str | None, limit: int) -> Page[VoucherLookup]:
        where = self._voucher_filters(q)
        after = self._after(cursor, int)
        if after is not None:
            where.append(v.c.serial > after)
        by_type_alone = q.voucher_type_id is not None and (
            q.subscriber is None
            and q.batch_id is None
            and q.last4 is None
            and (q.status is None or q.status in _EARLY)
        )
        batches = (
            self._batches_of_type(q.voucher_type_id, after)
            if by_type_alone and q.voucher_type_id is not None
            else []
        )
        if by_type_alone and len(batches) <= _MAX_BATCH_PARTS:
            # A type alone: a batch's vouchers are all of its type, so they are read one batch
            # at a time through (batch_id, serial), and the rest through the unbatched index;
            # each part stops at a page, and the page is the first of their union.
            parts = [sa.and_(*where, v.c.batch_id == i) for i in batches]
            parts.append(sa.and_(*where, sa.text(t.UNBATCHED)))
        else:
            parts = [sa.and_(*where)]
        serials = [
            sa.select(v.c.id, v.c.serial).where(part).order_by(v.c.serial).limit(limit + 1)
            for part in parts
        ]
        chosen: Any = (
            serials[0].subquery()
            if len(serials) == 1
            else sa.union_all(*(s.subquery().select() for s in serials)).subquery()
        )
        page = sa.select(chosen.c.id).order_by(chosen.c.serial).limit(limit + 1).subquery()
        stmt = (
            sa.select(
                *v.c, sb.c.external_id.label("holder"), *[c.label(f"lc_{c.key}") for c in lc.c]
            )
            .select_from(
                v.join(page, page.c.id == v.c.id)
                .join(lc, sa.and_(lc.c.id == v.c.lifecycle_id, lc.c.tenant_id == v.c.tenant_id))
                .outerjoin(
                    sb, sa.and_(sb.c.id == v.c.subscriber_id, sb.c.tenant_id == v.c.tenant_id)
                )
            )
            .where(self._mine(v))
            .order_by(v.c.serial)
        )
        rows = self.conn.execute(stmt).mappings().all()
        return self._paged(rows, limit, _lookup, lambda row: str(row["serial"]))

    # --- a subscriber's history ----------------------------------------------------------

    def history(self, q: HistoryQuery, cursor: str | None, limit: int) -> Page[HistoryEntry]:
        stmt = sa.select(e).where(self._mine(e), e.c.subscriber == q.subscriber)
        kinds = kind_filter(q.kinds)
        if kinds is not None:
            refused = e.c.operation.like(f"%{REFUSED_SUFFIX}")
            wanted: list[sa.ColumnElement[bool]] = (
                [e.c.operation.in_(kinds.operations)] if kinds.operations else []
            )
            if kinds.refused:
                wanted.append(refused)
            if kinds.other:
                wanted.append(sa.and_(e.c.operation.not_in(sorted(KIND_OF)), sa.not_(refused)))
            stmt = stmt.where(sa.or_(*wanted))
        if q.since is not None:
            stmt = stmt.where(e.c.occurred_at >= q.since)
        if q.until is not None:
            stmt = stmt.where(e.c.occurred_at < q.until)
        return self._page(stmt, e.c.id, cursor, limit, _entry, parse_key=int)

    # --- aggregates and caps -------------------------------------------------------------

    def aggregates(self, subscriber: str, at: datetime) -> list[AggregateReading]:
        ad, av = t.aggregate_definitions, t.aggregate_values
        definitions = [
            _definition(row)
            for row in self.conn.execute(sa.select(ad).where(self._mine(ad)).order_by(ad.c.name))
            .mappings()
            .all()
        ]
        keys = {(d.name, k) for d in definitions for k in d.read_keys(at)}
        found: dict[tuple[str, str], float] = {}
        if keys:
            stmt = sa.select(av.c.name, av.c.bucket, av.c.value).where(
                self._mine(av),
                av.c.subscriber == subscriber,
                av.c.name.in_(sorted({n for n, _ in keys})),
                av.c.bucket.in_(sorted({k for _, k in keys})),
            )
            found = {(row.name, row.bucket): row.value for row in self.conn.execute(stmt)}
        readings = []
        for d in definitions:
            buckets = {k: found[(d.name, k)] for k in d.read_keys(at) if (d.name, k) in found}
            start, end = d.window_bounds(at)
            readings.append(
                AggregateReading(d, d.combine(list(buckets.values())), start, end, buckets)
            )
        return readings

    def caps(self, subscriber: str, at: datetime) -> list[CapReading]:
        n, c = t.campaign_subscriber_counts, t.campaigns
        # The counts' key is (campaign, subscriber, period): read it campaign by campaign
        # (a tenant has few), never scanning every subscriber's counts.
        stmt = (
            sa.select(n.c.period, n.c.count, c)
            .select_from(c.join(n, n.c.campaign_id == c.c.id))
            .where(self._mine(c), self._mine(n), n.c.subscriber == subscriber)
            .order_by(c.c.name, n.c.period)
        )
        readings = []
        for row in self.conn.execute(stmt).mappings():
            campaign = _campaign(row)
            caps = campaign.spec.caps
            readings.append(
                CapReading(
                    campaign.id,
                    campaign.spec.name,
                    row["period"],
                    row["count"],
                    caps.per_subscriber,
                    row["period"] == caps.period_key(at),
                )
            )
        return readings

    # --- rewards -------------------------------------------------------------------------

    def rewards(self, q: RewardQuery, cursor: str | None, limit: int) -> Page[RewardView]:
        where: list[sa.ColumnElement[bool]] = [self._mine(r)]
        if q.campaign_id is not None:
            where.append(r.c.campaign_id == q.campaign_id)
        if q.subscriber is not None:
            where.append(r.c.subscriber == q.subscriber)
        if q.since is not None:
            where.append(r.c.rewarded_at >= q.since)
        if q.until is not None:
            where.append(r.c.rewarded_at < q.until)
        return self._page_by(
            sa.select(r).where(*where),
            (r.c.rewarded_at, r.c.id),
            cursor,
            limit,
            _reward,
            (datetime.fromisoformat, uuid.UUID),
        )
