"""``tessera brand create|list|show|suspend|resume|report``: a host operator's brands;
``share|unshare|shares``: marketplace voucher types; ``settlement|lines``: what the tenants of
a group owe each other for marketplace uses."""

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
from tessera.entrypoints.cli_reports import SinceOpt, UntilOpt, _utc
from tessera.entrypoints.http import brands, voucher_types
from tessera.entrypoints.http import marketplace as marketplace_routes

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


TypeId = Annotated[uuid.UUID, typer.Argument(metavar="TYPE_ID")]
ShareTo = Annotated[uuid.UUID, typer.Argument(metavar="BRAND_ID", help="A tenant of the group")]


@brand_app.command("share")
def brand_share(
    type_id: TypeId, brand_id: ShareTo, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE
) -> None:
    """Share the tenant's voucher type with another tenant of its group (a marketplace type)."""
    run(lambda: voucher_types.share_voucher_type(type_id, brand_id, tenant_uow(tenant)), fmt)


@brand_app.command("unshare")
def brand_unshare(type_id: TypeId, brand_id: ShareTo, tenant: TenantOpt) -> None:
    """Stop sharing the type with that tenant: its points of sale no longer find the codes."""
    with refusals():
        voucher_types.unshare_voucher_type(type_id, brand_id, tenant_uow(tenant))
    err.print("no longer shared")


@brand_app.command("shares")
def brand_shares(type_id: TypeId, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """The tenants a voucher type is shared with."""
    run(lambda: voucher_types.list_voucher_type_shares(type_id, tenant_uow(tenant)).items, fmt)


@brand_app.command("settlement")
def brand_settlement(
    tenant: TenantOpt, since: SinceOpt, until: UntilOpt, fmt: FormatOpt = Format.TABLE
) -> None:
    """A host's flows between its group's tenants: who owes whom for marketplace uses."""
    uow = tenant_uow(tenant)
    run(lambda: marketplace_routes.group_settlement(uow, _utc(since), _utc(until)).items, fmt)


@brand_app.command("lines")
def brand_lines(
    tenant: TenantOpt, since: SinceOpt, until: UntilOpt, fmt: FormatOpt = Format.TABLE
) -> None:
    """The tenant's own settlement lines for marketplace uses, and its balances."""
    uow = tenant_uow(tenant)
    run(lambda: marketplace_routes.marketplace_settlement(uow, _utc(since), _utc(until)), fmt)
