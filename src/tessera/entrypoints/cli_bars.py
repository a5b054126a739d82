"""``tessera bar list|lift``: who is barred for wrong codes now, and lifting a bar."""

from __future__ import annotations

from typing import Annotated

import typer

from tessera.entrypoints.cli_common import (
    Format,
    FormatOpt,
    TenantOpt,
    resource_commands,
    run,
    tenant_uow,
)
from tessera.entrypoints.http import bars

bar_app = typer.Typer(help="Bars on wrong codes.", no_args_is_help=True)

resource_commands(
    bar_app, "bar", columns=("scope", "kind", "subject", "barred_until"), listing=bars.list_bars
)


@bar_app.command("lift")
def bar_lift(
    scope: Annotated[str, typer.Argument(help="key:<key id> or subscriber:<external id>")],
    tenant: TenantOpt,
    reason: Annotated[str | None, typer.Option(help="Why, for the record")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """End a bar and its count of wrong codes (an EDR says who and why)."""
    body = bars.LiftIn(reason=reason)
    run(lambda: bars.lift_bar(scope, tenant_uow(tenant), body), fmt)
