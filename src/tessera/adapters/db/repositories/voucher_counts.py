"""The status report's reads: voucher counts now, grouped in the database, and the status
changes recorded since an instant, from the EDRs (domain/voucher_counts.py rewinds them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.types import UTCDateTime
from tessera.domain.statuses import Operation
from tessera.domain.voucher_counts import FROZEN, GroupKey

# The EDRs of one voucher that may change its status: every voucher operation's, its issue and
# its purge (checks and refusals, ``voucher.validate`` or ``voucher.redeem_refused``, do not).
STATUS_OPERATIONS = sorted(
    [f"voucher.{op.value}" for op in Operation] + ["voucher.issue", "voucher.purge"]
)
BULK_OPERATIONS = ["batch.activate", "batch.freeze", "batch.unfreeze", "batch.cancel"]


def _state(status: sa.ColumnElement[Any], activated: sa.ColumnElement[bool]) -> Any:
    return sa.case((sa.and_(status == "pending", activated), FROZEN), else_=status)


@dataclass(frozen=True, slots=True)
class Gone:
    """A voucher purged since: its serial, and the type its EDRs name (None: they do not)."""

    serial: int
    voucher_type_id: uuid.UUID | None


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
    ) -> list[tuple[GroupKey | Gone, str | None, str | None, int]]:
        """The one-voucher status changes recorded after ``at`` (issue, use, reissue,
        cancel, close, expire, purge, ...), counted by group, state before and state after;
        a pending voucher activated before the change was frozen. A voucher purged since has
        no row to name its group: its changes come back by serial, with the type its EDRs
        name (``Gone``)."""
        e, v = t.edrs.c, self.table.c
        activated = sa.and_(v.activated_at.is_not(None), v.activated_at < e.occurred_at)
        before, after = _state(e.status_before, activated), _state(e.status_after, activated)
        gone = v.id.is_(None)
        serial = sa.case((gone, e.subject_id))
        named_type = sa.case((gone, e.details["voucher_type_id"].as_string()))
        stmt = (
            sa.select(
                v.voucher_type_id, v.batch_id, serial, named_type, before, after, sa.func.count()
            )
            .select_from(
                t.edrs.outerjoin(
                    self.table,
                    sa.and_(self._mine(), v.serial == sa.cast(e.subject_id, sa.BigInteger)),
                )
            )
            .where(
                self._mine(t.edrs),
                e.occurred_at > sa.literal(at, UTCDateTime),
                e.subject_type == "voucher",
                e.operation.in_(STATUS_OPERATIONS),
                e.status_before.is_distinct_from(e.status_after),
            )
            .group_by(v.voucher_type_id, v.batch_id, serial, named_type, before, after)
        )
        out: list[tuple[GroupKey | Gone, str | None, str | None, int]] = []
        for k, b, s, named, s0, s1, n in self.conn.execute(stmt):
            key: GroupKey | Gone = (
                (uuid.UUID(str(k)), _uuid(b)) if s is None else Gone(int(s), _uuid(named))
            )
            out.append((key, s0, s1, int(n)))
        return out

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

    def batches(self) -> dict[uuid.UUID, tuple[uuid.UUID, datetime, int, int]]:
        """Each batch's voucher type, when it was made, and its first and last serial (0, -1
        while none is reserved)."""
        b = t.batches.c
        stmt = sa.select(
            b.id, b.voucher_type_id, b.created_at, b.serial_first, b.serial_last
        ).where(self._mine(t.batches))
        return {
            bid: (type_id, made, first or 0, -1 if last is None else last)
            for bid, type_id, made, first, last in self.conn.execute(stmt)
        }
