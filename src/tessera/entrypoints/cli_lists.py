"""``tessera list ...`` (partner voucher lists) and ``tessera dispatch`` (webhooks, once)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

from tessera.domain.errors import DomainError
from tessera.domain.lists import ListSpec, VoucherList
from tessera.entrypoints.cli_common import (
    Format,
    FormatOpt,
    err,
    fail,
    open_store,
    open_tenant,
    show,
)
from tessera.entrypoints.cli_common import TenantOpt as CommonTenantOpt
from tessera.services import lists
from tessera.services.dispatch import dispatch_once
from tessera.services.list_upload import upload_codes
from tessera.services.lists import RowIssue

list_app = typer.Typer(help="Partner voucher lists.", no_args_is_help=True)


_fail = fail
_open = open_tenant
TenantOpt = CommonTenantOpt


def _summary(vl: VoucherList) -> dict[str, object]:
    u = vl.utilization
    return {
        "id": str(vl.id),
        "partner": vl.spec.partner,
        "name": vl.spec.name,
        "status": vl.status(datetime.now(UTC)).value,
        "uploaded": u.uploaded,
        "issued": u.issued,
        "redeemed": u.redeemed,
        "remaining": u.remaining,
        "issued_percent": u.issued_percent,
        "low_stock_percent": vl.spec.low_stock_percent,
        "codes_per_subscriber": vl.spec.codes_per_subscriber,
    }


@list_app.command("create")
def list_create(
    name: str,
    tenant: TenantOpt,
    partner: Annotated[str, typer.Option(help="Who supplies the codes")],
    description: str = "",
    low_stock_percent: Annotated[int, typer.Option(help="Alert at issued/uploaded ≥")] = 80,
    ends_at: Annotated[datetime | None, typer.Option(help="ISO time, UTC if no offset")] = None,
    codes_per_subscriber: Annotated[
        int, typer.Option(help="Codes a distribution gives one subscriber at most")
    ] = 1,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Create a voucher list."""
    container, tenant_id = _open(tenant)
    if ends_at is not None and ends_at.tzinfo is None:
        ends_at = ends_at.replace(tzinfo=UTC)
    spec = ListSpec(partner, name, description, low_stock_percent, ends_at, codes_per_subscriber)
    try:
        vl = lists.create_list(container.uow(tenant_id), spec)
    except DomainError as error:
        raise _fail(error) from None
    show(_summary(vl), fmt)


@list_app.command("show")
def list_show(
    ref: Annotated[str, typer.Argument(help="List id or name")],
    tenant: TenantOpt,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """A list's status and utilization."""
    container, tenant_id = _open(tenant)
    try:
        vl = lists.find_list(container.uow(tenant_id), ref)
    except DomainError as error:
        raise _fail(error) from None
    show(_summary(vl), fmt)


@list_app.command("upload")
def list_upload(
    ref: Annotated[str, typer.Argument(help="List id or name")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV: code,description,expiry")
    ],
    tenant: TenantOpt,
    report: Annotated[Path | None, typer.Option(help="Write the refused rows here (CSV)")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Upload or top up codes from a CSV file (streamed, with a progress bar)."""
    container, tenant_id = _open(tenant)
    size = file.stat().st_size
    columns = (
        TextColumn("[bold]uploading[/bold]"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%  {task.fields[rows]:,} rows"),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    kept: list[RowIssue] = []  # every refused row, for --report
    try:
        vl = lists.find_list(container.uow(tenant_id), ref)
        with file.open("rb") as stream, Progress(*columns, console=err) as progress:
            task = progress.add_task("upload", total=size, rows=0)

            def advance(rows: int) -> None:
                progress.update(task, completed=stream.tell(), rows=rows)

            result = upload_codes(
                container.uow(tenant_id),
                vl.id,
                stream,
                file.name,
                advance,
                every_problem=kept.append if report is not None else None,
            )
            progress.update(task, completed=size)
    except DomainError as error:
        raise _fail(error) from None
    err.print(
        f"{result.rows:,} rows: [green]{result.accepted:,} accepted[/green], "
        f"{result.duplicates_in_file:,} duplicates in the file, "
        f"{result.duplicates_in_list:,} already in the list, {result.invalid:,} invalid"
    )
    for problem in result.problems[:20]:
        err.print(f"  line {problem.line}: {problem.kind}: {escape(problem.reason)}")
    refused = result.invalid + result.duplicates_in_file + result.duplicates_in_list
    if refused > 20 and report is None:
        err.print(f"  ... {refused - 20:,} more: add --report FILE to keep them all")
    if report is not None:
        with report.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "kind", "reason"])
            for problem in sorted(kept, key=lambda p: p.line):
                writer.writerow([problem.line, problem.kind, problem.reason])
        err.print(f"  all {len(kept):,} refused rows are in {report}")
    assert result.utilization is not None
    summary = {
        "upload_id": str(result.upload_id),
        "rows": result.rows,
        "accepted": result.accepted,
        "duplicates_in_file": result.duplicates_in_file,
        "duplicates_in_list": result.duplicates_in_list,
        "invalid": result.invalid,
        "uploaded": result.utilization.uploaded,
        "remaining": result.utilization.remaining,
    }
    show(summary, fmt)


@list_app.command("redeem")
def list_redeem(
    ref: Annotated[str, typer.Argument(help="List id or name")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a code column")
    ],
    tenant: TenantOpt,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Record codes the partner reports as redeemed on its side."""
    container, tenant_id = _open(tenant)
    try:
        vl = lists.find_list(container.uow(tenant_id), ref)
        with file.open("rb") as stream:
            result = lists.report_redemptions(
                container.uow(tenant_id),
                vl.id,
                lists.redemption_rows(stream),
                datetime.now(UTC),
            )
    except DomainError as error:
        raise _fail(error) from None
    for problem in result.problems[:20]:
        err.print(f"  line {problem.line}: {problem.kind}: {escape(problem.reason)}")
    summary = {
        "received": result.received,
        "redeemed": result.redeemed,
        "already_redeemed": result.already_redeemed,
        "refused": result.refused,
    }
    show(summary, fmt)


def register_dispatch(app: typer.Typer) -> None:
    @app.command()
    def dispatch(fmt: FormatOpt = Format.TABLE) -> None:
        """Deliver every webhook notification that is due now, once, then exit."""
        container = open_store()
        try:
            result = dispatch_once(container)
        except DomainError as error:
            raise _fail(error) from None
        finally:
            container.close()
        show({"delivered": result.delivered, "retrying": result.retrying, "dead": result.dead}, fmt)
