"""``tessera campaign ...`` and ``tessera aggregate ...``: the rewards engine from a terminal."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from tessera.domain.campaigns import CampaignStatus
from tessera.entrypoints.cli_common import (
    FileOpt,
    Format,
    FormatOpt,
    JsonOpt,
    TenantOpt,
    body_of,
    open_tenant,
    resource_commands,
    run,
    tenant_uow,
)
from tessera.entrypoints.http import campaigns

campaign_app = typer.Typer(help="Campaigns: CEL conditions, rewards, caps.", no_args_is_help=True)
aggregate_app = typer.Typer(help="Aggregates the conditions read (agg.NAME).", no_args_is_help=True)
CampaignId = Annotated[uuid.UUID, typer.Argument(metavar="ID")]

resource_commands(
    campaign_app,
    "campaign",
    columns=("id", "name", "status", "priority", "trigger_types", "rewards_issued"),
    create=(campaigns.CampaignIn, campaigns.create_campaign),
    listing=campaigns.list_campaigns,
    get=campaigns.get_campaign,
    update=(campaigns.CampaignPatch, campaigns.update_campaign),
)


@campaign_app.command("simulate")
def campaign_simulate(
    campaign_id: CampaignId,
    tenant: TenantOpt,
    json_text: JsonOpt = None,
    file: FileOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """What the campaign would do with sample events ({"events": [...]}) or with the stored
    events of a period ({"since": ..., "until": ...}); nothing is stored or changed."""
    body = body_of(campaigns.SimulationIn, json_text, file)
    container, tenant_id = open_tenant(tenant)
    run(lambda: campaigns.simulate(campaign_id, body, container, container.uow(tenant_id)), fmt)


def _set_status(status: CampaignStatus) -> None:
    def command(campaign_id: CampaignId, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
        change = campaigns.CampaignPatch(status=status)
        run(lambda: campaigns.update_campaign(campaign_id, change, tenant_uow(tenant)), fmt)

    verb = {CampaignStatus.ACTIVE: "activate", CampaignStatus.PAUSED: "pause"}[status]
    command.__doc__ = f"{verb.capitalize()} a campaign (its status becomes {status.value})."
    campaign_app.command(verb)(command)


_set_status(CampaignStatus.ACTIVE)
_set_status(CampaignStatus.PAUSED)


@aggregate_app.command("define")
def aggregate_define(
    tenant: TenantOpt,
    json_text: JsonOpt = None,
    file: FileOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Declare an aggregate (name, event_type, function, window, attribute?, days?)."""
    body = body_of(campaigns.AggregateIO, json_text, file)
    run(lambda: campaigns.define_aggregate(body, tenant_uow(tenant)), fmt)


@aggregate_app.command("list")
def aggregate_list(tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """The tenant's aggregates."""
    run(lambda: campaigns.list_aggregates(tenant_uow(tenant)), fmt)
