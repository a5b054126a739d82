"""``tessera edrs seal|verify|verify-file``: the sealed blocks of EDRs (services/edr_seal.py).

``verify`` and ``verify-file`` exit 0 when every block holds, 3 when one does not (naming the
first EDR changed, removed or inserted), 2 for a refusal (unknown tenant, unreadable file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tessera.domain.edr_seal import Verification
from tessera.entrypoints.cli_common import (
    Format,
    FormatOpt,
    TenantOpt,
    err,
    open_store,
    open_tenant,
    refuse,
    show,
)
from tessera.services import edr_seal

BROKEN = 3  # a record or a block is not what was sealed


def _answer(result: Verification) -> dict[str, Any]:
    first = result.first
    return {
        "ok": result.ok,
        "blocks": result.blocks,
        "sealed": result.sealed,
        "unsealed": result.unsealed,
        "chain_head": result.chain_head,
        "breach": None if first is None else first.breach.value,
        "block": None if first is None else first.block_seq,
        "edr_id": None if first is None else first.edr_id,
        "reason": None if first is None else first.describe(),
    }


def _conclude(result: Verification, fmt: Format) -> None:
    show(_answer(result), fmt)
    if result.first is not None:
        err.print(f"[red]verify failed[/red]: {result.first.describe()}")
        raise typer.Exit(code=BROKEN)


def add_commands(edrs: typer.Typer) -> None:
    @edrs.command("seal")
    def seal(fmt: FormatOpt = Format.TABLE) -> None:
        """Seal every tenant's new EDRs into blocks, once (`tessera worker` does it
        periodically: job `seal`)."""
        container = open_store()
        report = edr_seal.seal_all(
            container.directory, container.uow, container.settings.seal_block_size
        )
        if report.waiting:
            err.print("transactions still running: nothing sealed this time, try again")
        show({"blocks": report.blocks, "sealed": report.sealed}, fmt)

    @edrs.command("verify")
    def verify(tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
        """Check every sealed block of a tenant against the EDRs stored now; names the
        first EDR changed, removed or inserted (exit 3)."""
        container, tenant_id = open_tenant(tenant)
        _conclude(edr_seal.verify_tenant(container.uow(tenant_id)), fmt)

    @edrs.command("verify-file")
    def verify_file(
        file: Annotated[Path, typer.Argument(help="An export made with --format sealed")],
        fmt: FormatOpt = Format.TABLE,
    ) -> None:
        """Check an exported file offline, with nothing but the file (exit 3 when a record
        or a block is not what was sealed)."""
        try:
            with file.open(encoding="utf-8") as lines:
                result = edr_seal.verify_file(lines)
        except OSError as exc:
            refuse("invalid", f"{file}: {exc.strerror}")
        except edr_seal.UnreadableExport as exc:
            refuse("invalid", f"{file}: {exc}")
        _conclude(result, fmt)
