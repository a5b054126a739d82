"""``tessera brand create|list|show|suspend|resume|report``: a host operator's brands."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from tessera.entrypoints.cli_common import (
    Format,
    FormatOpt,
    TenantOpt,
    err,
    refusals,
    resource_commands,
    run,
    tenant_uow,
)
from tessera.entrypoints.http import brands

brand_app = typer.Typer(
    help="A host operator's brands (--tenant names the host).", no_args_is_help=True
)

resource_commands(
    brand_app,
    "brand",
    columns=("id", "name", "created_at", "suspended_at"),
    listing=brands.list_brands,
    get=brands.get_brand,
)

BrandId = Annotated[uuid.UUID, typer.Argument(metavar="ID")]


@brand_app.command("create")
def brand_create(
    name: Annotated[str, typer.Argument(help="The brand's name (unique in the store)")],
    tenant: TenantOpt,
) -> None:
    """Create a brand of the host and print its first admin key (shown only this once)."""
    with refusals():
        made = brands.create_brand(brands.BrandIn(name=name), tenant_uow(tenant))
    err.print(f"brand [bold]{made.name}[/bold] created ({made.id}); its admin key:")
    typer.echo(made.admin_key.key)


@brand_app.command("suspend")
def brand_suspend(brand_id: BrandId, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """Refuse the brand's keys until it is resumed."""
    run(lambda: brands.suspend_brand(brand_id, tenant_uow(tenant)), fmt)


@brand_app.command("resume")
def brand_resume(brand_id: BrandId, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """Let the brand's keys work again."""
    run(lambda: brands.resume_brand(brand_id, tenant_uow(tenant)), fmt)


@brand_app.command("report")
def brand_report(tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """Counts per brand: vouchers, used vouchers, redemptions at its points of sale."""
    run(lambda: brands.group_report(tenant_uow(tenant)).items, fmt)
