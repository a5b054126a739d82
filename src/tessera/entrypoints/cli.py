"""The ``tessera`` command: serve, migrate, tenants and keys, EDR export."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console

from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.bootstrap import build
from tessera.domain.errors import DomainError
from tessera.domain.roles import Role
from tessera.services import tenants
from tessera.services.edrs import export_edrs

app = typer.Typer(help="Tessera: vouchers and real-time rewards.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (operators and brands).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
edrs_app = typer.Typer(help="Event detail records.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(edrs_app, name="edrs")

err = Console(stderr=True)
DEMO_TENANT = "demo"


def _fail(error: DomainError) -> typer.Exit:
    err.print(f"[red]error[/red] [{error.code}] {error.message}")
    return typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    container = build()
    container.migrate()
    err.print(f"database at revision head ({container.engine.url.render_as_string()})")


@tenant_app.command("create")
def tenant_create(name: str) -> None:
    """Create a tenant and print its first admin key (shown only this once)."""
    container = build()
    try:
        tenant, plain = tenants.create_tenant(container.directory(), name)
    except DomainError as error:
        raise _fail(error) from None
    err.print(f"tenant [bold]{tenant.name}[/bold] created ({tenant.id}); its admin key:")
    typer.echo(plain)


@tenant_app.command("list")
def tenant_list() -> None:
    for tenant in tenants.list_tenants(build().directory()):
        typer.echo(f"{tenant.id}  {tenant.name}")


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    role: Annotated[Role, typer.Option(help="Role of the new key")] = Role.ADMIN,
    name: Annotated[str, typer.Option(help="A label for the key")] = "created from the CLI",
) -> None:
    """Create a key for a tenant (for example when its last admin key was lost)."""
    container = build()
    try:
        found = tenants.find_tenant(container.directory(), tenant)
        _key, plain = tenants.create_key(container.uow(found.id), name, role)
    except DomainError as error:
        raise _fail(error) from None
    typer.echo(plain)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


EDR_COLUMNS = [
    "id", "occurred_at", "tenant_id", "actor_key_id", "operation", "subject_type", "subject_id",
    "status_before", "status_after", "amount_minor", "currency", "details",
]  # fmt: skip


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, int | str | bool | float | dict | list):
        return value
    return str(value)


@edrs_app.command("export")
def edrs_export(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    export_format: Annotated[ExportFormat, typer.Option("--format")] = ExportFormat.JSONL,
    output: Annotated[Path | None, typer.Option(help="File to write (default: stdout)")] = None,
    operation: str | None = None,
    since: Annotated[datetime | None, typer.Option(help="ISO time, UTC if no offset")] = None,
    until: Annotated[datetime | None, typer.Option(help="ISO time, UTC if no offset")] = None,
) -> None:
    """Stream a tenant's EDRs as CSV or JSON lines, in id order, in constant memory."""
    from datetime import UTC

    container = build()
    try:
        found = tenants.find_tenant(container.directory(), tenant)
    except DomainError as error:
        raise _fail(error) from None
    f = EdrFilter(
        operation=operation,
        since=since.replace(tzinfo=since.tzinfo or UTC) if since else None,
        until=until.replace(tzinfo=until.tzinfo or UTC) if until else None,
    )
    stream: TextIO = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        writer = csv.writer(stream) if export_format is ExportFormat.CSV else None
        if writer:
            writer.writerow(EDR_COLUMNS)
        for edr in export_edrs(container.uow(found.id), f):
            row = {k: _jsonable(v) for k, v in asdict(edr).items()}
            if writer:
                row["details"] = json.dumps(row["details"], sort_keys=True)
                writer.writerow([row[c] for c in EDR_COLUMNS])
            else:
                stream.write(json.dumps(row, sort_keys=True) + "\n")
    finally:
        if output:
            stream.close()


@app.command()
def expire() -> None:
    """Expire vouchers still unused after expiry + grace (recognizing their revenue) and
    release lapsed reservations, for every tenant. ``serve`` also does this periodically."""
    from tessera.services.expiry import expire_all

    container = build()
    report = expire_all(container.directory(), container.uow)
    err.print(f"expired {report.expired} vouchers, released {report.released} lapsed holds")
    typer.echo(json.dumps({"expired": report.expired, "released": report.released}))


@app.command()
def purge() -> None:
    """Delete finished vouchers older than their lifecycle's retention (their EDRs stay),
    and idempotency keys older than TESSERA_IDEMPOTENCY_RETENTION_HOURS."""
    from datetime import timedelta

    from tessera.services.expiry import purge_all

    container = build()
    retention = timedelta(hours=container.settings.idempotency_retention_hours)
    report = purge_all(container.directory(), container.uow, retention)
    err.print(f"purged {report.vouchers} vouchers and {report.idempotency_keys} idempotency keys")
    typer.echo(json.dumps(asdict(report)))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: TESSERA_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default: TESSERA_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="Default: TESSERA_WORKERS")] = None,
    demo: Annotated[bool, typer.Option(help="Create a 'demo' tenant if none exists")] = False,
) -> None:
    """Serve the HTTP API. The embedded SQLite default is migrated first."""
    import uvicorn

    container = build()
    settings = container.settings
    if settings.is_sqlite:
        container.migrate()
    if demo:
        _ensure_demo_tenant()
    container.close()
    uvicorn.run(
        "tessera.entrypoints.http.app:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        access_log=False,
    )


def _ensure_demo_tenant() -> None:
    container = build()
    directory = container.directory()
    existing = tenants.list_tenants(directory)
    if existing:
        names = ", ".join(t.name for t in existing)
        err.print(
            f"tenants exist ({names}); their keys were printed when they were made. "
            "A new key: [bold]tessera key create --tenant NAME[/bold]"
        )
        return
    _tenant, plain = tenants.create_tenant(directory, DEMO_TENANT)
    err.print("[green]demo tenant created[/green]; its admin key (shown once):")
    err.print(f"[bold]{plain}[/bold]")
    err.print("try: curl -H 'Authorization: Bearer KEY' http://127.0.0.1:8000/v1/voucher-types")


if __name__ == "__main__":
    app()
