"""``tessera report revenue|status|liability|campaigns|lists|settlement``: the reports the
API serves, with the same numbers (each command calls the API's own route function), as a
table, CSV or JSON (``--format json`` is the API's answer as it is)."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from tessera.domain.reports import Period, RevenueGrouping
from tessera.entrypoints.cli_common import TenantOpt, out, refusals, tenant_uow
from tessera.entrypoints.http import reports as report_routes
from tessera.services.status_report import StatusGrouping

report_app = typer.Typer(help="Reports for finance (the same numbers as the API).")

REVENUE_COLUMNS = [
    "start", "end", "group", "name", "currency", "opening_deferred", "added",
    "recognized_by_use", "recognized_by_expiry", "reversed", "released", "closing_deferred",
]  # fmt: skip


STATUS_COLUMNS = [
    "group", "voucher_type_id", "name", "pending", "frozen", "available", "reserved", "used",
    "canceled", "expired", "closed", "reissued", "total",
]  # fmt: skip
LIABILITY_COLUMNS = [
    "kind", "key", "name", "currency", "vouchers", "value_minor", "balance_type", "amount",
]  # fmt: skip
SETTLEMENT_COLUMNS = [
    "seq", "status", "starts_at", "ends_at", "closed_at", "partner", "currency", "events",
    "rewards", "amount_minor", "events_reversed", "reversed", "reversed_minor", "net_minor",
]  # fmt: skip
CAMPAIGN_COLUMNS = [
    "start", "end", "campaign_id", "campaign", "currency", "events", "rewards", "subscribers",
    "cost_minor", "reversed", "reversed_minor", "budget_minor", "budget_left_minor",
]  # fmt: skip
LIST_COLUMNS = [
    "start", "end", "list_id", "list", "partner", "uploaded", "issued", "redeemed",
    "issued_total", "remaining",
]  # fmt: skip
TEXT_COLUMNS = frozenset(
    {
        "start",
        "end",
        "group",
        "name",
        "currency",
        "partner",
        "period",
        "voucher_type_id",
        "day",
        "kind",
        "key",
        "balance_type",
    }
)


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


SinceOpt = Annotated[datetime, typer.Option(help="ISO time, UTC if no offset")]
UntilOpt = Annotated[datetime, typer.Option(help="ISO time, UTC if no offset (excluded)")]
ReportFormatOpt = Annotated[ReportFormat, typer.Option("--format")]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=at.tzinfo or UTC).astimezone(UTC)


def _emit(answer: Any, rows: list[dict[str, Any]], columns: list[str], fmt: ReportFormat) -> None:
    if fmt is ReportFormat.JSON:
        plain = (
            answer.model_dump(mode="json")
            if isinstance(answer, BaseModel)
            else [a.model_dump(mode="json") for a in answer]
        )
        sys.stdout.write(json.dumps(plain, indent=2) + "\n")
        return
    if fmt is ReportFormat.CSV:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in columns])
        return
    from rich.table import Table

    table = Table()
    for column in columns:
        numeric = column not in TEXT_COLUMNS
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    out.print(table)


@report_app.command("revenue")
def revenue(
    tenant: TenantOpt,
    since: SinceOpt,
    until: UntilOpt,
    period: Annotated[Period, typer.Option()] = Period.DAY,
    group_by: Annotated[RevenueGrouping, typer.Option("--group-by")] = RevenueGrouping.TYPE,
    fmt: ReportFormatOpt = ReportFormat.TABLE,
) -> None:
    """Deferred revenue per period and group: opening, added, recognized by use and by
    expiry, reversed, released, closing (GET /v1/reports/revenue). A row per group and
    period, then one per currency (group "total")."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.revenue(uow, _utc(since), _utc(until), period, group_by)
    rows = []
    for p in answer.periods:
        span = {"start": p.start.isoformat(), "end": p.end.isoformat()}
        rows += [span | g.model_dump() for g in p.groups]
        rows += [span | g.model_dump() | {"group": "total"} for g in p.totals]
    _emit(answer, rows, REVENUE_COLUMNS, fmt)


@report_app.command("settlement")
def settlement(
    tenant: TenantOpt,
    since: SinceOpt,
    until: UntilOpt,
    partner: Annotated[str | None, typer.Option(help="One partner only")] = None,
    fmt: ReportFormatOpt = ReportFormat.TABLE,
) -> None:
    """Partner settlement statements of the periods overlapping the span, closed ones as
    written, then the open one: rewarded events, rewards, amounts, reversals, net (GET
    /v1/reports/settlement). A row per statement and partner."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.settlement(uow, _utc(since), _utc(until), partner)
    _emit(answer, statement_rows(answer), SETTLEMENT_COLUMNS, fmt)


@report_app.command("close-settlement")
def close_settlement(
    tenant: TenantOpt,
    until: Annotated[datetime, typer.Option(help="End of the period (excluded), not after now")],
    fmt: ReportFormatOpt = ReportFormat.TABLE,
) -> None:
    """Close the open settlement period at --until: its statement is written once and never
    changes (POST /v1/reports/settlement/close)."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.close_settlement(report_routes.CloseIn(until=_utc(until)), uow)
    _emit(answer, statement_rows([answer]), SETTLEMENT_COLUMNS, fmt)


def statement_rows(statements: list[report_routes.StatementOut]) -> list[dict[str, Any]]:
    """A row per statement and line (a statement with no line: one row of its period)."""
    rows = []
    for s in statements:
        period = s.model_dump(exclude={"lines"})
        rows += [period | ln.model_dump() for ln in s.lines] or [period]
    return rows


AsOfOpt = Annotated[
    datetime | None, typer.Option("--as-of", help="ISO time, UTC if no offset (default: now)")
]


@report_app.command("status")
def status(
    tenant: TenantOpt,
    as_of: AsOfOpt = None,
    group_by: Annotated[StatusGrouping, typer.Option("--group-by")] = StatusGrouping.TYPE,
    fmt: ReportFormatOpt = ReportFormat.TABLE,
) -> None:
    """Voucher counts by status per type or batch, now or as of a past instant, frozen apart
    from pending (GET /v1/reports/status). A row per group, then the totals (group "total")."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.status(uow, None if as_of is None else _utc(as_of), group_by)
    rows = [ln.model_dump() for ln in answer.lines]
    rows.append({"group": "total", **answer.totals.model_dump()})
    _emit(answer, rows, STATUS_COLUMNS, fmt)


@report_app.command("liability")
def liability(
    tenant: TenantOpt, as_of: AsOfOpt = None, fmt: ReportFormatOpt = ReportFormat.TABLE
) -> None:
    """What sold, unused vouchers still owe, now or as of a past instant: cost per type and
    currency, grants per balance type (GET /v1/reports/liability)."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.liability(uow, None if as_of is None else _utc(as_of))
    _emit(answer, [ln.model_dump() for ln in answer.lines], LIABILITY_COLUMNS, fmt)


PeriodOpt = Annotated[Period, typer.Option()]


def _rows(answer: list[Any]) -> list[dict[str, Any]]:
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.model_dump().items()}
            for r in answer]  # fmt: skip


@report_app.command("campaigns")
def campaigns(
    tenant: TenantOpt,
    since: SinceOpt,
    until: UntilOpt,
    period: PeriodOpt = Period.DAY,
    fmt: ReportFormatOpt = ReportFormat.TABLE,
) -> None:
    """Campaign results per campaign and day or month: events matched, rewards, unique
    subscribers, cost, reversals, budget left (GET /v1/reports/campaigns)."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.campaign_results(uow, _utc(since), _utc(until), period)
    _emit(answer, _rows(answer), CAMPAIGN_COLUMNS, fmt)


@report_app.command("lists")
def lists(
    tenant: TenantOpt,
    since: SinceOpt,
    until: UntilOpt,
    period: PeriodOpt = Period.DAY,
    fmt: ReportFormatOpt = ReportFormat.TABLE,
) -> None:
    """Partner list utilization per list and day or month: codes uploaded, issued, redeemed,
    issued so far and remaining (GET /v1/reports/lists)."""
    uow = tenant_uow(tenant)
    with refusals():
        answer = report_routes.list_utilization(uow, _utc(since), _utc(until), period)
    _emit(answer, _rows(answer), LIST_COLUMNS, fmt)
