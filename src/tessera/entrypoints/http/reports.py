"""Reports: GET /v1/reports/revenue, /status, /liability, /campaigns, /lists, /settlement; POST
/v1/reports/settlement/close."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tessera.domain.reports import Period, RevenueGrouping
from tessera.entrypoints.http.deps import ListReportReader, PeriodCloser, Reader
from tessera.entrypoints.http.moments import Moment
from tessera.services import activity_reports, reports, settlement_report
from tessera.services.liability_report import liability_report
from tessera.services.reports import RevenueGroup
from tessera.services.status_report import StatusGrouping, status_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class RevenueLineOut(BaseModel):
    group: str | None = Field(
        description="The voucher type's id (group_by=type), the batch's (group_by=batch; null:"
        " vouchers issued one by one), null for group_by=currency"
    )
    name: str | None = Field(description="The voucher type's name (group_by=type)")
    currency: str
    opening_deferred: int
    added: int
    recognized_by_use: int
    recognized_by_expiry: int
    reversed: int
    released: int
    closing_deferred: int

    @classmethod
    def of(cls, g: RevenueGroup) -> RevenueLineOut:
        line = g.line
        return cls(
            group=g.group,
            name=g.name,
            currency=g.currency,
            opening_deferred=line.opening_deferred,
            added=line.added,
            recognized_by_use=line.recognized_by_use,
            recognized_by_expiry=line.recognized_by_expiry,
            reversed=line.reversed,
            released=line.released,
            closing_deferred=line.closing_deferred,
        )


class RevenuePeriodOut(BaseModel):
    start: datetime
    end: datetime
    groups: list[RevenueLineOut]
    totals: list[RevenueLineOut] = Field(description="One line per currency")


class RevenueReportOut(BaseModel):
    since: datetime
    until: datetime
    period: Period
    group_by: RevenueGrouping
    periods: list[RevenuePeriodOut]


@router.get("/revenue")
def revenue(
    uow: Reader,
    since: Moment,
    until: Moment,
    period: Period = Period.DAY,
    group_by: RevenueGrouping = RevenueGrouping.TYPE,
) -> RevenueReportOut:
    """The revenue ledger per period (UTC days or months, the first and last cut at since
    and until) and group: the deferred balance at the opening, what was added (sellable),
    recognized by use (at the activity time) and by expiry (when the grace period ended),
    reversed (back to deferred) and released (canceled, closed, frozen or reissued before
    use), and the closing balance, which is the next period's opening. Amounts in minor
    units of each line's currency."""
    report = reports.revenue_report(uow, since, until, period, group_by)
    return RevenueReportOut(
        since=report.since,
        until=report.until,
        period=report.period,
        group_by=report.group_by,
        periods=[
            RevenuePeriodOut(
                start=p.start,
                end=p.end,
                groups=[RevenueLineOut.of(g) for g in p.groups],
                totals=[RevenueLineOut.of(g) for g in p.totals],
            )
            for p in report.periods
        ],
    )


class StatusLineOut(BaseModel):
    group: str | None = Field(
        description="The voucher type's id (group_by=type), the batch's (group_by=batch; null:"
        " vouchers of that type issued one by one)"
    )
    voucher_type_id: str
    name: str = Field(description="The voucher type's name")
    pending: int = Field(description="never activated")
    frozen: int = Field(description="activated once, then frozen (pending again)")
    available: int
    reserved: int
    used: int
    canceled: int
    expired: int
    closed: int
    reissued: int
    total: int


class StatusTotalsOut(BaseModel):
    pending: int
    frozen: int
    available: int
    reserved: int
    used: int
    canceled: int
    expired: int
    closed: int
    reissued: int
    total: int


class StatusReportOut(BaseModel):
    as_of: datetime
    group_by: StatusGrouping
    lines: list[StatusLineOut]
    totals: StatusTotalsOut


@router.get("/status")
def status(
    uow: Reader, as_of: Moment | None = None, group_by: StatusGrouping = StatusGrouping.TYPE
) -> StatusReportOut:
    """Voucher counts by status per voucher type or batch, now, or as of a past instant:
    the counts now rewound through every status change the EDRs recorded since (a batch
    made later is left out). Frozen vouchers (activated, then frozen) are shown apart from
    pending ones (never activated)."""
    report = status_report(uow, as_of, group_by)
    return StatusReportOut(
        as_of=report.as_of,
        group_by=report.group_by,
        lines=[
            StatusLineOut(
                group=ln.group,
                voucher_type_id=ln.voucher_type_id,
                name=ln.name,
                total=ln.total,
                **ln.counts,
            )
            for ln in report.lines
        ],
        totals=StatusTotalsOut(total=sum(report.totals.values()), **report.totals),
    )


class LiabilityLineOut(BaseModel):
    kind: str = Field(
        description="type: one voucher type; currency: the total of a currency; balance_type:"
        " what the vouchers would grant of one balance type"
    )
    key: str = Field(description="The type's id, the currency, or the balance type")
    name: str | None = Field(description="The voucher type's name (kind type)")
    currency: str | None
    vouchers: int = Field(description="Sellable vouchers (available or reserved), unused")
    value_minor: int | None = Field(description="Their cost outstanding (kinds type, currency)")
    balance_type: str | None
    amount: int | None = Field(description="What they would grant (kind balance_type)")


class LiabilityReportOut(BaseModel):
    as_of: datetime
    lines: list[LiabilityLineOut]


@router.get("/liability")
def liability(uow: Reader, as_of: Moment | None = None) -> LiabilityReportOut:
    """What the vouchers sold and not yet used (available or reserved) still owe, now or as
    of a past instant: their cost per voucher type with a total per currency (the deferred
    revenue), and what they would grant per balance type, each type as it is now."""
    report = liability_report(uow, as_of)
    return LiabilityReportOut(
        as_of=report.as_of,
        lines=[LiabilityLineOut(**dataclasses.asdict(ln)) for ln in report.lines],
    )


class SettlementLineOut(BaseModel):
    partner: str
    currency: str
    events: int = Field(description="Rewarded events the partner funds, each once")
    rewards: int = Field(description="Their reward rows (an event may carry several)")
    amount_minor: int = Field(description="What those rewards cost")
    events_reversed: int = Field(description="Events with a reward reversed in this statement")
    reversed: int = Field(description="Reward rows reversed in this statement")
    reversed_minor: int = Field(description="What the reversed rewards cost")
    net_minor: int = Field(description="amount_minor - reversed_minor: what the partner owes")


class StatementOut(BaseModel):
    seq: int | None = Field(description="The closed period's number; null: the open period")
    status: str = Field(description="closed (final) or open (changes until it is closed)")
    starts_at: datetime | None = Field(description="null: from the beginning")
    ends_at: datetime | None = Field(description="null: open, up to now")
    closed_at: datetime | None
    lines: list[SettlementLineOut]

    @classmethod
    def of(cls, s: settlement_report.Statement) -> StatementOut:
        return cls(
            seq=s.seq,
            status="open" if s.seq is None else "closed",
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            closed_at=s.closed_at,
            lines=[SettlementLineOut(**ln) for ln in s.lines],
        )


@router.get("/settlement")
def settlement(
    uow: ListReportReader, since: Moment, until: Moment, partner: str | None = None
) -> list[StatementOut]:
    """Partner settlement statements of the periods that overlap since..until: each closed
    period as it was written when closed (it never changes), then the open period. A
    statement counts the rewarded events, reward rows and amounts it took, and the reversals;
    a reversal after its reward's period was closed lands on the open statement. A partner
    key sees the partners of its lists only."""
    return [StatementOut.of(s) for s in settlement_report.statements(uow, since, until, partner)]


class CloseIn(BaseModel):
    until: Moment = Field(description="The end of the period to close (excluded; not after now)")


@router.post("/settlement/close", status_code=201)
def close_settlement(body: CloseIn, uow: PeriodCloser) -> StatementOut:
    """Closes the open settlement period at `until`: its statement (every partner-funded
    reward granted before then that no statement took, and the reversals before then of
    rewards already taken) is written once and never changes; what comes later lands on the
    next period. An EDR (`settlement.close`) records it. Admin and finance keys only."""
    return StatementOut.of(settlement_report.close_period(uow, body.until))


class CampaignDayOut(BaseModel):
    start: datetime
    end: datetime
    campaign_id: str
    campaign: str | None
    currency: str | None
    events: int = Field(description="Events that matched and were rewarded, each once")
    rewards: int = Field(description="Reward rows granted")
    subscribers: int = Field(description="Subscribers rewarded, each once")
    cost_minor: int = Field(description="What the rewards granted cost")
    reversed: int = Field(description="Reward rows reversed in the period")
    reversed_minor: int
    budget_minor: int | None = Field(description="The campaign's total budget (null: none)")
    budget_left_minor: int | None = Field(
        description="The budget less the cost standing at the period's end"
    )


@router.get("/campaigns")
def campaign_results(
    uow: Reader, since: Moment, until: Moment, period: Period = Period.DAY
) -> list[CampaignDayOut]:
    """Campaign results per campaign and day (or month): events matched and rewarded, reward
    rows, unique subscribers, cost, reversals, and the budget left at the period's end."""
    return [
        CampaignDayOut(**row) for row in activity_reports.campaign_report(uow, since, until, period)
    ]


class ListDayOut(BaseModel):
    start: datetime
    end: datetime
    list_id: str
    list: str | None
    partner: str | None
    uploaded: int = Field(description="Codes accepted by uploads in the period")
    issued: int = Field(description="Codes given to subscribers in the period")
    redeemed: int = Field(description="Codes the partner reported redeemed in the period")
    issued_total: int = Field(description="Codes issued up to the period's end")
    remaining: int = Field(description="Codes uploaded less codes issued, at the period's end")


@router.get("/lists")
def list_utilization(
    uow: ListReportReader, since: Moment, until: Moment, period: Period = Period.DAY
) -> list[ListDayOut]:
    """Partner list utilization over time, per list and day (or month): codes uploaded,
    issued, reported redeemed, and issued so far and remaining at the period's end. A
    partner key sees its own lists only."""
    return [ListDayOut(**row) for row in activity_reports.list_report(uow, since, until, period)]
