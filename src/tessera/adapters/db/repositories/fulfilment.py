"""Fulfilment requests for the tenant's order system: written in the redemption's
transaction, delivered by the notifications outbox, settled by the order system or by time."""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.fulfilment import FulfilmentStatus
from tessera.domain.paging import Page

f = t.fulfilment_requests


@dataclass(frozen=True, slots=True)
class FulfilmentRequest:
    id: uuid.UUID
    voucher_id: int
    serial: int
    subscriber_id: uuid.UUID
    offer: str
    action: str
    status: FulfilmentStatus
    parameters: dict[str, str]
    created_at: datetime
    settled_at: datetime | None
    reason: str | None


def _request(row: sa.RowMapping) -> FulfilmentRequest:
    return FulfilmentRequest(
        id=row["id"],
        voucher_id=row["voucher_id"],
        serial=row["serial"],
        subscriber_id=row["subscriber_id"],
        offer=row["offer"],
        action=row["action"],
        status=FulfilmentStatus(row["status"]),
        parameters=dict(row["parameters"] or {}),
        created_at=row["created_at"],
        settled_at=row["settled_at"],
        reason=row["reason"],
    )


class FulfilmentRequestRepository(TenantScoped):
    table = f

    def add(
        self,
        request_id: uuid.UUID,
        voucher_id: int,
        serial: int,
        subscriber_id: uuid.UUID,
        offer: str,
        action: str,
        now: datetime,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self.conn.execute(
            self._insert(
                id=request_id,
                voucher_id=voucher_id,
                serial=serial,
                subscriber_id=subscriber_id,
                offer=offer,
                action=action,
                status=FulfilmentStatus.PENDING.value,
                created_at=now,
                parameters=parameters or None,
            )
        )

    def of_voucher(self, voucher_id: int) -> builtins.list[dict[str, object]]:
        stmt = self._select().where(f.c.voucher_id == voucher_id).order_by(f.c.created_at)
        return [dict(row) for row in self.conn.execute(stmt).mappings()]

    def get(self, request_id: uuid.UUID) -> FulfilmentRequest | None:
        row = self.conn.execute(self._select().where(f.c.id == request_id)).mappings().first()
        return None if row is None else _request(row)

    def list(
        self, status: FulfilmentStatus | None, cursor: str | None, limit: int
    ) -> Page[FulfilmentRequest]:
        stmt = self._select()
        if status is not None:
            stmt = stmt.where(f.c.status == status.value)
        return self._page(stmt, f.c.id, cursor, limit, _request)

    def settle(
        self,
        request_id: uuid.UUID,
        status: FulfilmentStatus,
        now: datetime,
        reason: str | None = None,
    ) -> FulfilmentRequest | None:
        """Compare-and-set: pending -> ``status``; None when it was no longer pending."""
        stmt = (
            self._update(f.c.id == request_id, f.c.status == FulfilmentStatus.PENDING.value)
            .values(status=status.value, settled_at=now, reason=reason)
            .returning(*f.c)
        )
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _request(row)

    def overdue(self, cutoff: datetime, limit: int) -> builtins.list[FulfilmentRequest]:
        """Pending requests asked at or before ``cutoff``, oldest first."""
        stmt = (
            self._select()
            .where(f.c.status == FulfilmentStatus.PENDING.value, f.c.created_at <= cutoff)
            .order_by(f.c.created_at, f.c.id)
            .limit(limit)
        )
        return [_request(row) for row in self.conn.execute(stmt).mappings()]
