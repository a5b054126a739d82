"""Reports: a page per report (its form, its table) and the same rows as a CSV download.

Each report is one ``Report`` below: the form's fields (a pydantic model, so a refusal is
shown next to its field), the permission, the columns, and a function that calls the API's
own route function and turns its answer into rows. The page and the CSV are built from the
same rows, so the download says what the page shows, which is what the API answers.
Adding a report is one entry in ``REPORTS`` (and, only if a plain table will not do, a
template of its own extending ``report.html``)."""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.errors import Invalid, NotFound
from tessera.domain.reports import Period, RevenueGrouping
from tessera.domain.roles import Permission
from tessera.entrypoints.cli_reports import (
    CAMPAIGN_COLUMNS,
    LIABILITY_COLUMNS,
    LIST_COLUMNS,
    SETTLEMENT_COLUMNS,
    STATUS_COLUMNS,
    statement_rows,
)
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Signed,
    SignedIn,
    closed,
    field_errors,
    render,
)
from tessera.entrypoints.http import reports as report_routes
from tessera.entrypoints.http.deps import allowed
from tessera.services.status_report import StatusGrouping

router = APIRouter(prefix=f"{PREFIX}/reports", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/reports", "Reports", "read_list_reports")]

Rows = list[dict[str, Any]]


class Span(BaseModel):
    """Whole UTC days, both included (the API's ``until`` is the day after ``to``)."""

    since: date = Field(title="From (UTC day)")
    to: date = Field(title="To (UTC day, included)")

    @property
    def moments(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.since, time(), UTC)
        return start, datetime.combine(self.to + timedelta(days=1), time(), UTC)


class RevenueQuery(Span):
    period: Period = Field(Period.DAY, title="Period")
    group_by: RevenueGrouping = Field(RevenueGrouping.TYPE, title="Group by")


class SettlementQuery(Span):
    partner: str | None = Field(None, max_length=200, title="Partner (blank: every partner)")


def _revenue(uow: UnitOfWork, q: RevenueQuery) -> Rows:
    since, until = q.moments
    answer = report_routes.revenue(uow, since, until, q.period, q.group_by)
    rows: Rows = []
    for p in answer.periods:
        span = {"start": p.start, "end": p.end}
        rows += [span | g.model_dump() for g in p.groups]
        rows += [span | g.model_dump() | {"group": "total", "name": None} for g in p.totals]
    return rows


class AsOfQuery(BaseModel):
    as_of: date | None = Field(None, title="As of the end of (UTC day; blank: now)")

    def moment(self, uow: UnitOfWork) -> datetime | None:
        """The end of the day asked (today's end is not known yet: now)."""
        if self.as_of is None:
            return None
        return min(datetime.combine(self.as_of + timedelta(days=1), time(), UTC), uow.clock())


class StatusQuery(AsOfQuery):
    group_by: StatusGrouping = Field(StatusGrouping.TYPE, title="Group by")


def _status(uow: UnitOfWork, q: StatusQuery) -> Rows:
    answer = report_routes.status(uow, q.moment(uow), q.group_by)
    return [ln.model_dump() for ln in answer.lines] + [
        {"group": "total", **answer.totals.model_dump()}
    ]


def _liability(uow: UnitOfWork, q: AsOfQuery) -> Rows:
    return [ln.model_dump() for ln in report_routes.liability(uow, q.moment(uow)).lines]


class ActivityQuery(Span):
    period: Period = Field(Period.DAY, title="Period")


def _campaigns(uow: UnitOfWork, q: ActivityQuery) -> Rows:
    since, until = q.moments
    return [r.model_dump() for r in report_routes.campaign_results(uow, since, until, q.period)]


def _lists(uow: UnitOfWork, q: ActivityQuery) -> Rows:
    since, until = q.moments
    return [r.model_dump() for r in report_routes.list_utilization(uow, since, until, q.period)]


def _settlement(uow: UnitOfWork, q: SettlementQuery) -> Rows:
    since, until = q.moments
    return statement_rows(report_routes.settlement(uow, since, until, q.partner))


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    about: str
    permission: Permission
    query: type[BaseModel]
    columns: list[str]
    rows: Callable[[UnitOfWork, Any], Rows]
    template: str = "report.html"


REPORTS = {
    r.slug: r
    for r in [
        Report(
            "revenue", "Revenue",
            "Deferred revenue per period and group: opening balance, added, recognized by use "
            "and by expiry, reversed, released, closing balance (GET /v1/reports/revenue). A row "
            "per group, then a total per currency.",
            Permission.READ, RevenueQuery,
            ["start", "end", "group", "name", "currency", "opening_deferred", "added",
             "recognized_by_use", "recognized_by_expiry", "reversed", "released",
             "closing_deferred"],
            _revenue,
        ),
        Report(
            "status", "Voucher status",
            "Voucher counts by status per type or batch, now or at the end of a past day, "
            "frozen apart from pending (GET /v1/reports/status). A row per group, then the "
            "totals.",
            Permission.READ, StatusQuery, STATUS_COLUMNS, _status,
        ),
        Report(
            "liability", "Liability",
            "What the vouchers sold and not yet used (available or reserved) still owe, now "
            "or at the end of a past day: their cost per type, a total per currency, and what "
            "they would grant per balance type (GET /v1/reports/liability).",
            Permission.READ, AsOfQuery, LIABILITY_COLUMNS, _liability,
        ),
        Report(
            "campaigns", "Campaign results",
            "Per campaign and day or month: events matched and rewarded, reward rows, unique "
            "subscribers, cost, reversals, and the budget left at the period's end "
            "(GET /v1/reports/campaigns).",
            Permission.READ, ActivityQuery, CAMPAIGN_COLUMNS, _campaigns,
        ),
        Report(
            "lists", "List utilization",
            "Per partner list and day or month: codes uploaded, issued, reported redeemed, "
            "issued so far and remaining at the period's end (GET /v1/reports/lists). A "
            "partner's key sees its own lists only.",
            Permission.READ_LIST_REPORTS, ActivityQuery, LIST_COLUMNS, _lists,
        ),
        Report(
            "settlement", "Partner settlement",
            "Statements of the periods that overlap the span, each closed one as written when "
            "it was closed (it never changes), then the open one: rewarded events the partner "
            "funds, reward rows, amounts, reversals, net (GET /v1/reports/settlement). A "
            "reversal after its reward's period closed lands on the open statement. A "
            "partner's key sees its own partners only.",
            Permission.READ_LIST_REPORTS, SettlementQuery, SETTLEMENT_COLUMNS,
            _settlement,
        ),
    ]
}  # fmt: skip


def _report(slug: str) -> Report:
    report = REPORTS.get(slug)
    if report is None:
        raise NotFound("no such report", code="report_not_found")
    return report


def _fields(report: Report) -> list[dict[str, Any]]:
    """The form's fields, from the query model: a select for a choice, a date input for a
    day, a text input otherwise."""
    out = []
    for name, info in report.query.model_fields.items():
        kind = info.annotation
        choices = (
            [(m.value, m.value.replace("_", " ")) for m in kind]
            if isinstance(kind, type) and issubclass(kind, Enum)
            else []
        )
        out.append({
            "name": name, "label": info.title or name, "choices": choices,
            "type": "date" if kind is date or date in get_args(kind) else "text",
        })  # fmt: skip
    return out


def _defaults(report: Report, today: date) -> dict[str, str]:
    values: dict[str, str] = {}
    if issubclass(report.query, Span):
        values = {"since": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    for name, info in report.query.model_fields.items():
        if name not in values and info.default is not None:
            default = info.default
            values[name] = default.value if isinstance(default, Enum) else str(default)
    return values


def _run(
    report: Report, signed: Signed, given: dict[str, str]
) -> tuple[Rows | None, dict[str, str]]:
    """The rows, or the errors by field (the query model's, or the API's own refusal)."""
    uow = signed.uow(report.permission)
    try:
        query = report.query(**{k: v for k, v in given.items() if v != ""})
        return report.rows(uow, query), {}
    except FORM_ERRORS as exc:
        errors = field_errors(exc)
        if "until" in errors:  # the API names the day after "to" until
            errors["to"] = errors.pop("until")
        return None, errors


def _given(report: Report, request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in report.query.model_fields}


@router.get("")
def report_index(request: Request, signed: SignedIn) -> Response:
    shown = [r for r in REPORTS.values() if signed.can(r.permission)]
    if not shown:  # the API's own refusal: every report needs at least this
        allowed(signed.session.caller, Permission.READ_LIST_REPORTS)
    return render(request, "reports.html", signed, reports=shown)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    # A cell a spreadsheet would read as a formula (a type or partner name is anyone's
    # text) is kept as text.
    return f"'{text}" if isinstance(value, str) and text[:1] in ("=", "+", "-", "@") else text


@router.get("/{slug}.csv")
def report_csv(request: Request, slug: str, signed: SignedIn) -> Response:
    report = _report(slug)
    values = _given(report, request)
    rows, errors = _run(report, signed, values)
    if rows is None:
        field, reason = next(iter(errors.items()))
        raise Invalid(field, reason)  # the error page: the form shows it by its field
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(report.columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in report.columns])
    span = [values[k] for k in ("since", "to", "as_of") if values.get(k)]
    name = "-".join([slug, *span]) + ".csv"
    return closed(
        Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    )


@router.get("/{slug}")
def report_page(request: Request, slug: str, signed: SignedIn) -> Response:
    report = _report(slug)
    asked = any(k in request.query_params for k in report.query.model_fields)
    values = (
        _given(report, request) if asked else _defaults(report, signed.container.clock().date())
    )
    rows, errors = _run(report, signed, values)
    return render(
        request, report.template, signed, status_code=422 if errors else 200, report=report,
        fields=_fields(report), rows=rows, errors=errors, values=values,
        csv_query=urlencode(values),
    )  # fmt: skip
