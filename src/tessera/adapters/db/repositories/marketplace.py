"""Settlement lines of marketplace uses: read from the uses' own records (``voucher.redeem``
EDRs naming a ``side``), the tenant's own through ``TenantScoped``, a group's through
``GroupScoped`` (counts and sums only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import GroupScoped, TenantScoped
from tessera.domain.marketplace import SettlementLine, Side

e = t.edrs.c
MAX_LINES = 10_000


def _named(name: str) -> sa.ColumnElement[Any]:
    """A text field of the record's details (the JSON document), on either store."""
    found: sa.ColumnElement[Any] = e.details[name].as_string()
    return found


def _side() -> sa.ColumnElement[Any]:
    return _named("side")


def _marketplace_uses(since: datetime, until: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        e.operation == "voucher.redeem",
        _side().is_not(None),
        e.occurred_at >= since,
        e.occurred_at < until,
    ]


class MarketplaceLines(TenantScoped):
    table = t.edrs

    def lines(self, since: datetime, until: datetime) -> list[SettlementLine]:
        """This tenant's lines in the span, oldest first (at most ``MAX_LINES``)."""
        stmt = (
            self._select(e.id, e.occurred_at, e.subject_id, e.amount_minor, e.currency, e.details)
            .where(*_marketplace_uses(since, until))
            .order_by(e.id)
            .limit(MAX_LINES)
        )
        return [
            SettlementLine(
                edr_id=row.id,
                occurred_at=row.occurred_at,
                serial=row.subject_id,
                side=Side(row.details["side"]),
                issuing_brand=uuid.UUID(row.details["issuing_brand"]),
                redeeming_brand=uuid.UUID(row.details["redeeming_brand"]),
                amount_minor=row.amount_minor or 0,
                currency=row.currency or "",
            )
            for row in self.conn.execute(stmt)
        ]


@dataclass(frozen=True, slots=True)
class GroupFlow:
    """What one tenant of the group owes another over a span (from the issuers' lines)."""

    issuing_brand: uuid.UUID
    redeeming_brand: uuid.UUID
    currency: str
    uses: int
    amount_minor: int


class GroupSettlement(GroupScoped):
    def flows(self, since: datetime, until: datetime) -> list[GroupFlow]:
        """Per issuer, redeeming brand and currency over the host's group (the host and its
        brands): counted once, on the issuer's side."""
        issuing, redeeming = _named("issuing_brand"), _named("redeeming_brand")
        members = sa.or_(e.tenant_id == self.host_id, e.tenant_id.in_(self._my_brand_ids()))
        stmt = (
            sa.select(
                issuing.label("issuing"),
                redeeming.label("redeeming"),
                e.currency,
                sa.func.count().label("uses"),
                sa.func.coalesce(sa.func.sum(e.amount_minor), 0).label("amount"),
            )
            .where(members, *_marketplace_uses(since, until), _side() == Side.ISSUER.value)
            .group_by(issuing, redeeming, e.currency)
            .order_by(issuing, redeeming, e.currency)
        )
        return [
            GroupFlow(
                uuid.UUID(row.issuing),
                uuid.UUID(row.redeeming),
                row.currency or "",
                int(row.uses),
                int(row.amount),
            )
            for row in self.conn.execute(stmt)
        ]
