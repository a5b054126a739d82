"""``tessera lifecycle ...`` and ``tessera type ...``: the catalog from a terminal."""

from __future__ import annotations

import typer

from tessera.entrypoints.cli_common import resource_commands
from tessera.entrypoints.http import lifecycles, voucher_types

lifecycle_app = typer.Typer(help="Lifecycles: validity, grace, holds.", no_args_is_help=True)
type_app = typer.Typer(help="Voucher types: cost, buckets, offers.", no_args_is_help=True)

resource_commands(
    lifecycle_app,
    "lifecycle",
    columns=("id", "name", "validity_kind", "validity_days", "expires_at", "grace_days"),
    create=(lifecycles.LifecycleIn, lifecycles.create_lifecycle),
    listing=lifecycles.list_lifecycles,
    get=lifecycles.get_lifecycle,
    update=(lifecycles.LifecyclePatch, lifecycles.update_lifecycle),
)
resource_commands(
    type_app,
    "voucher type",
    columns=("id", "name", "cost_minor", "currency", "lifecycle_id", "active", "buckets"),
    create=(voucher_types.VoucherTypeIn, voucher_types.create_voucher_type),
    listing=voucher_types.list_voucher_types,
    get=voucher_types.get_voucher_type,
    update=(voucher_types.VoucherTypePatch, voucher_types.update_voucher_type),
)
