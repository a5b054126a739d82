"""The liability report: what the vouchers sold and not yet used still owe, now or as of a
past instant: their cost (the deferred revenue) per type and currency, and what they would
grant per balance type (airtime, data_mb, ...), counted from the status report's sellable
vouchers (available or reserved) times each type as it is now."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.services.status_report import StatusGrouping, status_report

SELLABLE_STATES = ("available", "reserved")


@dataclass(frozen=True, slots=True)
class LiabilityLine:
    kind: str  # "type", then a total per "currency" and per "balance_type"
    key: str  # the type's id, the currency, or the balance type
    name: str | None  # the type's name
    currency: str | None
    vouchers: int
    value_minor: int | None  # the cost outstanding (type and currency lines)
    balance_type: str | None = None
    amount: int | None = None  # what the vouchers would grant (balance_type lines)


@dataclass(frozen=True, slots=True)
class LiabilityReport:
    as_of: datetime
    lines: list[LiabilityLine]


def liability_report(uow: UnitOfWork, as_of: datetime | None) -> LiabilityReport:
    status = status_report(uow, as_of, StatusGrouping.TYPE)
    with uow:
        types = uow.voucher_types.every()
    lines: list[LiabilityLine] = []
    currencies: dict[str, list[int]] = {}
    balances: dict[str, list[int]] = {}
    for line in status.lines:
        vouchers = sum(line.counts[s] for s in SELLABLE_STATES)
        if not vouchers:
            continue
        spec = types[uuid.UUID(line.voucher_type_id)].spec
        value = vouchers * spec.cost_minor
        lines.append(
            LiabilityLine("type", line.voucher_type_id, spec.name, spec.currency, vouchers, value)
        )
        total = currencies.setdefault(spec.currency, [0, 0])
        total[0] += vouchers
        total[1] += value
        for bucket in spec.buckets:
            granted = balances.setdefault(bucket.balance_type, [0, 0])
            granted[0] += vouchers
            granted[1] += vouchers * bucket.amount
    lines += [
        LiabilityLine("currency", cur, None, cur, n, value)
        for cur, (n, value) in sorted(currencies.items())
    ]
    lines += [
        LiabilityLine("balance_type", bt, None, None, n, None, bt, amount)
        for bt, (n, amount) in sorted(balances.items())
    ]
    return LiabilityReport(status.as_of, lines)
