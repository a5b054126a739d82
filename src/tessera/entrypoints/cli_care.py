"""Customer care from a terminal: ``tessera voucher find``, ``tessera subscriber history``,
``tessera subscriber aggregates`` and ``tessera reward list``, each calling the HTTP route's
own function (same filters, same refusals naming the field)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from tessera.domain.care import HistoryKind
from tessera.domain.statuses import VoucherStatus
from tessera.entrypoints.cli_common import (
    CursorOpt,
    Format,
    FormatOpt,
    LimitOpt,
    TenantOpt,
    refusals,
    refuse,
    run,
    show,
    tenant_uow,
)
from tessera.entrypoints.http import lookups
from tessera.entrypoints.http.moments import Moment

subscriber_app = typer.Typer(help="A subscriber's history and aggregates.", no_args_is_help=True)
reward_app = typer.Typer(help="Rewards given.", no_args_is_help=True)

VOUCHER_COLUMNS = ("serial", "status", "code_last4", "subscriber", "voucher_type_id",
                   "status_changed_at", "expires_at")  # fmt: skip
HISTORY_COLUMNS = ("id", "at", "kind", "operation", "subject_id", "status_after", "amount_minor")
AGGREGATE_COLUMNS = ("name", "function", "window", "value", "window_from", "window_until")
CAP_COLUMNS = ("campaign", "period", "count", "per_subscriber", "current")
REWARD_COLUMNS = ("id", "rewarded_at", "campaign_id", "subscriber", "kind", "status", "cost_minor")

SinceOpt = Annotated[str | None, typer.Option(help="ISO 8601 time with offset (inclusive)")]
UntilOpt = Annotated[str | None, typer.Option(help="ISO 8601 time with offset (exclusive)")]
_moment = TypeAdapter(Moment)


def _time(name: str, value: str | None) -> datetime | None:
    """A time option read as the API reads it; a bad one is refused naming the option."""
    if value is None:
        return None
    try:
        return _moment.validate_python(value)
    except ValidationError as exc:
        refuse("invalid", f"--{name}: {exc.errors()[0]['msg']}")


def voucher_find(
    tenant: TenantOpt,
    subscriber: Annotated[str | None, typer.Option(help="The subscriber's external id")] = None,
    status: Annotated[VoucherStatus | None, typer.Option()] = None,
    voucher_type: Annotated[
        uuid.UUID | None, typer.Option("--type", help="Voucher type id")
    ] = None,
    batch: Annotated[uuid.UUID | None, typer.Option(help="Batch id")] = None,
    last4: Annotated[str | None, typer.Option(help="The code's last four characters")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    serial_from: Annotated[int | None, typer.Option(min=1)] = None,
    serial_to: Annotated[int | None, typer.Option(min=1)] = None,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Vouchers matching every filter given, in serial order (by subscriber: what they
    reserved, redeemed or were given; --status used: what they redeemed)."""
    start, end = _time("since", since), _time("until", until)
    run(
        lambda: lookups.find_vouchers(
            tenant_uow(tenant), subscriber, status, voucher_type, batch, last4, start, end,
            serial_from, serial_to, cursor, limit,
        ),
        fmt,
        VOUCHER_COLUMNS,
    )  # fmt: skip


@subscriber_app.command("history")
def subscriber_history(
    external_id: Annotated[str, typer.Argument(metavar="SUBSCRIBER")],
    tenant: TenantOpt,
    kind: Annotated[list[HistoryKind] | None, typer.Option(help="Only these kinds")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Everything recorded about the subscriber, oldest first (redemptions, reversals,
    rewards, distributions, wrong codes and bars, wallet movements, state changes)."""
    start, end = _time("since", since), _time("until", until)
    run(
        lambda: lookups.subscriber_history(
            external_id, tenant_uow(tenant), kind, start, end, cursor, limit
        ),
        fmt,
        HISTORY_COLUMNS,
    )


@subscriber_app.command("aggregates")
def subscriber_aggregates(
    external_id: Annotated[str, typer.Argument(metavar="SUBSCRIBER")],
    tenant: TenantOpt,
    at: Annotated[str | None, typer.Option(help="As of this time; default now")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Each aggregate as a campaign condition reads it now (value, window), and each
    campaign's count against its per-subscriber cap."""
    moment = _time("at", at)
    with refusals():
        answer = lookups.subscriber_aggregates(external_id, tenant_uow(tenant), moment)
    if fmt is Format.JSON:
        show(answer, fmt)
        return
    show(answer.aggregates, fmt, AGGREGATE_COLUMNS)
    show(answer.caps, fmt, CAP_COLUMNS)


@reward_app.command("list")
def reward_list(
    tenant: TenantOpt,
    campaign: Annotated[uuid.UUID | None, typer.Option(help="Campaign id")] = None,
    subscriber: Annotated[str | None, typer.Option(help="The subscriber's external id")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Rewards given, oldest first, by campaign and/or subscriber."""
    start, end = _time("since", since), _time("until", until)
    run(
        lambda: lookups.find_rewards(
            tenant_uow(tenant), campaign, subscriber, start, end, cursor, limit
        ),
        fmt,
        REWARD_COLUMNS,
    )


def register(app: typer.Typer, voucher_app: typer.Typer) -> None:
    voucher_app.command("find")(voucher_find)
    app.add_typer(subscriber_app, name="subscriber")
    app.add_typer(reward_app, name="reward")
