"""Settlement between the tenants of a group for marketplace uses: a tenant's own lines and
balances with each counterparty, and a host's view of the flows between its group's
tenants (sums only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tessera.adapters.db.repositories.marketplace import GroupFlow
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.errors import Invalid
from tessera.domain.marketplace import Balance, SettlementLine, balances


@dataclass(frozen=True, slots=True)
class MarketplaceSettlement:
    since: datetime
    until: datetime
    lines: list[SettlementLine]
    balances: list[Balance]


def _span(since: datetime, until: datetime) -> None:
    if until <= since:
        raise Invalid("until", "must be after since")


def settlement(uow: UnitOfWork, since: datetime, until: datetime) -> MarketplaceSettlement:
    """Each marketplace use in the span that the caller's tenant issued or redeemed, live
    (a use is a line as soon as it commits), and the net balance per counterparty."""
    _span(since, until)
    with uow:
        lines = uow.marketplace.lines(since, until)
    return MarketplaceSettlement(since, until, lines, balances(lines))


def group_flows(uow: UnitOfWork, since: datetime, until: datetime) -> list[GroupFlow]:
    """For a host: what each tenant of its group owes another for uses in the span."""
    _span(since, until)
    with uow:
        return uow.group_settlement.flows(since, until)
