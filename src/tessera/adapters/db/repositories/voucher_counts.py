"""The status report's reads: voucher counts now, grouped in the database, and the status
changes recorded since an instant, from the EDRs (domain/voucher_counts.py rewinds them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.types import UTCDateTime
from tessera.domain.voucher_counts import FROZEN, GroupKey

BULK_OPERATIONS = ["batch.activate", "batch.freeze", "batch.unfreeze", "batch.cancel"]


def _state(status: sa.ColumnElement[Any], activated: sa.ColumnElement[bool]) -> Any:
    return sa.case((sa.and_(status == "pending", activated), FROZEN), else_=status)


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


class VoucherCountQueries(TenantScoped):
    table = t.vouchers

    def now(self) -> list[tuple[GroupKey, str, int]]:
        """(type, batch) and state of every voucher, counted."""
        c = self.table.c
        state = _state(c.status, c.activated_at.is_not(None))
        stmt = self._select(c.voucher_type_id, c.batch_id, state, sa.func.count()).group_by(
            c.voucher_type_id, c.batch_id, state
        )
        return [
            ((uuid.UUID(str(k)), _uuid(b)), s, int(n)) for k, b, s, n in self.conn.execute(stmt)
        ]

    def voucher_changes_after(
        self, at: datetime
    ) -> list[tuple[GroupKey, str | None, str | None, int]]:
        """The one-voucher status changes recorded after ``at`` (issue, use, reissue,
        cancel, close, expire, purge, ...), counted by group, state before and state after;
        a pending voucher activated before the change was frozen."""
        e, v = t.edrs.c, self.table.c
        activated = sa.and_(v.activated_at.is_not(None), v.activated_at < e.occurred_at)
        before, after = _state(e.status_before, activated), _state(e.status_after, activated)
        stmt = (
            sa.select(v.voucher_type_id, v.batch_id, before, after, sa.func.count())
            .select_from(
                t.edrs.join(
                    self.table,
                    sa.and_(self._mine(), v.serial == sa.cast(e.subject_id, sa.BigInteger)),
                )
            )
            .where(
                self._mine(t.edrs),
                e.occurred_at > sa.literal(at, UTCDateTime),
                e.subject_type == "voucher",
                e.operation.like("voucher.%"),
                e.status_before.is_distinct_from(e.status_after),
            )
            .group_by(v.voucher_type_id, v.batch_id, before, after)
        )
        return [
            ((uuid.UUID(str(k)), _uuid(b)), s0, s1, int(n))
            for k, b, s0, s1, n in self.conn.execute(stmt)
        ]

    def batch_changes_after(self, at: datetime) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
        """(batch, operation, details) of the batch and range operations after ``at``."""
        e = t.edrs.c
        stmt = sa.select(e.subject_id, e.operation, e.details).where(
            self._mine(t.edrs),
            e.occurred_at > sa.literal(at, UTCDateTime),
            e.subject_type == "batch",
            e.operation.in_(BULK_OPERATIONS),
        )
        return [(uuid.UUID(b), op, details) for b, op, details in self.conn.execute(stmt)]

    def batches(self) -> dict[uuid.UUID, tuple[uuid.UUID, datetime]]:
        """Each batch's voucher type and when it was made."""
        b = t.batches.c
        stmt = sa.select(b.id, b.voucher_type_id, b.created_at).where(self._mine(t.batches))
        return {bid: (type_id, made) for bid, type_id, made in self.conn.execute(stmt)}
