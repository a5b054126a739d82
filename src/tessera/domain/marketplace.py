"""Marketplace uses between the tenants of a group, and what they owe each other (pure).

A use of a shared type's code at another brand leaves one record on each side (the
redeeming brand's ``voucher.redeem`` and the issuer's): each is a settlement line, the
issuer owing the redeeming brand the voucher's cost (the redeeming brand gave the
subscriber what the issuer sold)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Side(StrEnum):
    ISSUER = "issuer"  # the voucher's tenant: it owes
    REDEEMER = "redeemer"  # the tenant whose point of sale took the code: it is owed


@dataclass(frozen=True, slots=True)
class SettlementLine:
    edr_id: int
    occurred_at: datetime
    serial: str
    side: Side
    issuing_brand: uuid.UUID
    redeeming_brand: uuid.UUID
    amount_minor: int
    currency: str

    @property
    def counterparty(self) -> uuid.UUID:
        return self.redeeming_brand if self.side is Side.ISSUER else self.issuing_brand

    @property
    def signed_minor(self) -> int:
        """What the line adds to the tenant's balance with its counterparty (owed: +)."""
        return self.amount_minor if self.side is Side.REDEEMER else -self.amount_minor


@dataclass(frozen=True, slots=True)
class Balance:
    counterparty: uuid.UUID
    currency: str
    uses: int
    net_minor: int  # > 0: the counterparty owes this tenant; < 0: this tenant owes it


def balances(lines: Iterable[SettlementLine]) -> list[Balance]:
    """Per counterparty and currency: uses and the net amount, in counterparty order."""
    sums: dict[tuple[uuid.UUID, str], tuple[int, int]] = {}
    for line in lines:
        key = (line.counterparty, line.currency)
        uses, net = sums.get(key, (0, 0))
        sums[key] = (uses + 1, net + line.signed_minor)
    return [Balance(c, cur, uses, net) for (c, cur), (uses, net) in sorted(sums.items())]
