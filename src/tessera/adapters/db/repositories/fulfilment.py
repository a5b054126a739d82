"""Fulfilment requests for the tenant's order system, written in the redemption's transaction.

Delivery (the webhook) is the notifications outbox's job; this table is what it will read.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped


class FulfilmentRequestRepository(TenantScoped):
    table = t.fulfilment_requests

    def add(
        self,
        request_id: uuid.UUID,
        voucher_id: int,
        serial: int,
        subscriber_id: uuid.UUID,
        offer: str,
        action: str,
        now: datetime,
    ) -> None:
        self.conn.execute(
            self._insert(
                id=request_id,
                voucher_id=voucher_id,
                serial=serial,
                subscriber_id=subscriber_id,
                offer=offer,
                action=action,
                status="pending",
                created_at=now,
            )
        )

    def of_voucher(self, voucher_id: int) -> list[dict[str, object]]:
        c = self.table.c
        stmt = self._select().where(c.voucher_id == voucher_id).order_by(c.created_at)
        return [dict(row) for row in self.conn.execute(stmt).mappings()]
