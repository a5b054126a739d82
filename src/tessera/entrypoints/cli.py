"""The ``tessera`` command: serve, migrate, tenants and keys, EDR export."""

from __future__ import annotations

import base64
import csv
import json
import os
import secrets
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.bootstrap import Container, MissingCodeSecret
from tessera.config import Settings
from tessera.domain.batches import BatchOperation, BatchRequest
from tessera.domain.codes import Alphabet, CodeFormat
from tessera.domain.errors import DomainError
from tessera.domain.roles import Role
from tessera.entrypoints.cli_bars import bar_app
from tessera.entrypoints.cli_brands import brand_app
from tessera.entrypoints.cli_campaigns import aggregate_app, campaign_app
from tessera.entrypoints.cli_care import register as register_care
from tessera.entrypoints.cli_catalog import lifecycle_app, type_app
from tessera.entrypoints.cli_common import (
    DEMO_LIST_KEY_FILE,
    DEMO_SECRET_FILE,
    FAILED,
    REFUSED,
    CursorOpt,
    Format,
    FormatOpt,
    LimitOpt,
    TenantOpt,
    demo_secret_path,
    err,
    fail,
    open_store,
    open_tenant,
    refusals,
    refuse,
    run,
    say_invalid,
    show,
    tenant_uow,
)
from tessera.entrypoints.cli_edrs import add_commands as add_edr_commands
from tessera.entrypoints.cli_lists import list_app, register_dispatch
from tessera.entrypoints.cli_reports import report_app
from tessera.entrypoints.cli_webhooks import notification_app, webhook_app
from tessera.entrypoints.http import batches as batch_routes
from tessera.entrypoints.http import keys
from tessera.entrypoints.http import vouchers as voucher_routes
from tessera.services import batches, tenants
from tessera.services.edrs import export_edrs

app = typer.Typer(
    help="Tessera: vouchers and real-time rewards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # main() says an unexpected error in one line
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (operators and brands).", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
edrs_app = typer.Typer(help="Event detail records.", no_args_is_help=True)
batch_app = typer.Typer(help="Voucher batches (printed scratch cards).", no_args_is_help=True)
voucher_app = typer.Typer(help="Vouchers, one at a time.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")
app.add_typer(brand_app, name="brand")
app.add_typer(edrs_app, name="edrs")
add_edr_commands(edrs_app)
app.add_typer(list_app, name="list")
register_dispatch(app)
app.add_typer(batch_app, name="batch")
app.add_typer(lifecycle_app, name="lifecycle")
app.add_typer(type_app, name="type")
app.add_typer(campaign_app, name="campaign")
app.add_typer(aggregate_app, name="aggregate")
app.add_typer(webhook_app, name="webhook")
app.add_typer(notification_app, name="notification")
app.add_typer(voucher_app, name="voucher")
app.add_typer(report_app, name="report")
register_care(app, voucher_app)
app.add_typer(bar_app, name="bar")

DEMO_TENANT = "demo"
_fail = fail


def main() -> None:
    """The ``tessera`` command: an unexpected error is one line and exit 1, never a
    traceback (``TESSERA_LOG_LEVEL=debug`` shows it)."""
    try:
        app()
    except ValidationError as exc:  # the settings, read from the environment
        say_invalid(exc)
        sys.exit(REFUSED)
    except Exception as exc:
        if os.environ.get("TESSERA_LOG_LEVEL", "").strip().lower() == "debug":
            raise
        message = " ".join(str(exc).split())[:300]
        err.print(f"[red]error[/red] \\[internal] {escape(type(exc).__name__)}: {escape(message)}")
        sys.exit(FAILED)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    container = open_store(create=True)
    container.migrate()
    err.print(f"database at revision head ({container.engine.url.render_as_string()})")


@tenant_app.command("create")
def tenant_create(name: str) -> None:
    """Create a tenant and print its first admin key (shown only this once)."""
    container = open_store()
    try:
        tenant, plain = tenants.create_tenant(container.directory(), name)
    except DomainError as error:
        raise _fail(error) from None
    err.print(f"tenant [bold]{tenant.name}[/bold] created ({tenant.id}); its admin key:")
    typer.echo(plain)


@tenant_app.command("list")
def tenant_list(fmt: FormatOpt = Format.TABLE) -> None:
    """Every tenant of this store."""
    found = tenants.list_tenants(open_store().directory())
    show([{"id": str(t.id), "name": t.name} for t in found], fmt)


@key_app.command("create")
def key_create(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    role: Annotated[Role, typer.Option(help="Role of the new key")] = Role.ADMIN,
    name: Annotated[str, typer.Option(help="A label for the key")] = "created from the CLI",
    list_ids: Annotated[
        list[uuid.UUID] | None,
        typer.Option("--list", help="A partner key's voucher list id (repeat for several)"),
    ] = None,
) -> None:
    """Create a key for a tenant (for example when its last admin key was lost)."""
    uow = tenant_uow(tenant)
    with refusals():
        _key, plain = tenants.create_key(uow, name, role, list_ids)
    typer.echo(plain)


@key_app.command("list")
def key_list(
    tenant: TenantOpt,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """The tenant's keys (never their values): name, role, when made and revoked."""
    run(lambda: keys.list_keys(tenant_uow(tenant), cursor, limit), fmt)


@key_app.command("revoke")
def key_revoke(
    key_id: Annotated[uuid.UUID, typer.Argument(metavar="ID")],
    tenant: TenantOpt,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Revoke a key: it stops working at once."""
    run(lambda: keys.revoke_key(key_id, tenant_uow(tenant)), fmt)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    SEALED = "sealed"  # JSON lines with the blocks: `tessera edrs verify-file` checks it


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
    """Stream a tenant's EDRs as CSV or JSON lines, in id order, in constant memory.
    ``--format sealed``: every EDR with its sealed blocks, for an offline verify."""
    from datetime import UTC

    from tessera.services.edr_seal import export_sealed

    container, tenant_id = open_tenant(tenant)
    if export_format is ExportFormat.SEALED and (operation or since or until):
        refuse("invalid", "--format sealed exports every EDR: no --operation, --since, --until")
    f = EdrFilter(
        operation=operation,
        since=since.replace(tzinfo=since.tzinfo or UTC) if since else None,
        until=until.replace(tzinfo=until.tzinfo or UTC) if until else None,
    )
    stream: TextIO = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if export_format is ExportFormat.SEALED:
            stream.writelines(export_sealed(container.uow(tenant_id)))
            return
        writer = csv.writer(stream) if export_format is ExportFormat.CSV else None
        if writer:
            writer.writerow(EDR_COLUMNS)
        for edr in export_edrs(container.uow(tenant_id), f):
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
def consume(
    durable: Annotated[str, typer.Option(help="JetStream durable consumer name")] = "tessera",
) -> None:
    """Read events from NATS JetStream (stream TESSERA_EVENTS) until interrupted."""
    import asyncio
    import signal

    from tessera.entrypoints.consumer import EventConsumer

    container = open_store()

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await EventConsumer(container, durable).run(container.settings.nats_url, stop)
        err.print(
            f"stopped: {stats.messages} messages, {stats.events} events, {stats.rejected} rejected"
        )

    asyncio.run(_main())


@app.command()
def expire(fmt: FormatOpt = Format.TABLE) -> None:
    """Expire vouchers still unused after expiry + grace (recognizing their revenue) and
    release lapsed reservations, for every tenant, once (`tessera worker` does it
    periodically)."""
    from tessera.services.expiry import expire_all

    container = open_store()
    report = expire_all(container.directory(), container.uow)
    err.print(
        f"expired {report.expired} vouchers, closed {report.closed} unsold past expiry, "
        f"released {report.released} lapsed holds"
    )
    show({"expired": report.expired, "closed": report.closed, "released": report.released}, fmt)


@app.command()
def purge(fmt: FormatOpt = Format.TABLE) -> None:
    """Delete, once, everything past its retention: finished vouchers (their lifecycle's
    retention; their EDRs stay), events, aggregate windows, delivered notifications,
    idempotency keys, wrong-code counts, spent or expired buckets (TESSERA_*_RETENTION_*).
    `tessera worker` does this every TESSERA_PURGE_INTERVAL_SECONDS."""
    from tessera.services.purge import purge_all

    container = open_store()
    report = purge_all(
        container.directory(), container.uow, container.retention, container.settings.purge_batch
    )
    err.print(", ".join(f"{rows} {table}" for table, rows in report.rows.items()) + " purged")
    show(report.rows, fmt)


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option(help="Run each job once (where this worker gets its lease), then exit")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics on this port (default: TESSERA_WORKER_METRICS_PORT)"),
    ] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Run the background jobs until SIGTERM or SIGINT: expire vouchers, release lapsed
    holds, deliver webhooks, fail batches whose generation died, purge what is past
    retention. Safe to run several (on several hosts): a lease in the database lets one
    worker run each job at a time. On SQLite, `serve` runs these jobs itself."""
    import signal
    import threading

    from prometheus_client import CollectorRegistry, start_http_server

    from tessera.entrypoints.worker import Worker, WorkerMetrics, jobs_for

    container = open_store(create=True)
    if container.settings.is_sqlite:
        container.migrate()
    metrics = WorkerMetrics(CollectorRegistry())
    background = Worker(container, jobs_for(container, metrics), metrics)
    try:
        if once:
            outcomes = background.run_once()
            show(outcomes, fmt)
            if "failed" in outcomes.values():
                raise typer.Exit(code=FAILED)
            return
        port = metrics_port or container.settings.worker_metrics_port
        if port:
            start_http_server(port, addr=container.settings.host, registry=metrics.registry)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        err.print(f"worker {background.holder}: {', '.join(job.name for job in background.jobs)}")
        background.run(stop)
    finally:
        background.close()
        container.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: TESSERA_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default: TESSERA_PORT")] = None,
    workers: Annotated[int | None, typer.Option(help="Default: TESSERA_WORKERS")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            help="Create a 'demo' tenant if none exists; without TESSERA_CODE_SECRET, keep a "
            "generated one in a local file (not for production)"
        ),
    ] = False,
) -> None:
    """Serve the HTTP API with gunicorn and uvicorn workers. The embedded SQLite default is
    migrated first, and the background jobs of `tessera worker` run inside; on PostgreSQL
    run `tessera worker` beside it."""
    from tessera.entrypoints.http import server

    # Not the demo's files: the workers read their secrets from the environment, set below.
    container = open_store(create=True, demo_files=False)
    settings = container.settings
    if settings.code_secret is None or not settings.code_secret.get_secret_value():
        if not demo:
            err.print(
                "[red]error[/red] TESSERA_CODE_SECRET is not set: voucher codes are stored "
                "only as keyed hashes and cannot be made or checked without it. Set it to a "
                "long random value (e.g. `openssl rand -hex 32`), or run `tessera serve --demo`."
            )
            raise typer.Exit(code=2)
        # The workers read their settings from the environment.
        os.environ["TESSERA_CODE_SECRET"] = _demo_code_secret(settings)
    if demo and settings.list_key is None:
        os.environ["TESSERA_LIST_KEY"] = _demo_list_key(settings)
    if settings.is_sqlite:
        container.migrate()
    container.close()  # the workers open their own engines after the fork
    if demo:
        _ensure_demo_tenant()
    server.serve(
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        timeout=settings.worker_timeout_seconds,
        log_level=settings.log_level,
    )


def _demo_code_secret(settings: Settings) -> str:
    return _demo_secret(settings, DEMO_SECRET_FILE, "the code secret", "TESSERA_CODE_SECRET",
                        lambda: secrets.token_hex(32))  # fmt: skip


def _demo_list_key(settings: Settings) -> str:
    return _demo_secret(
        settings,
        DEMO_LIST_KEY_FILE,
        "the list key (it seals partner codes and webhook secrets)",
        "TESSERA_LIST_KEY",
        lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    )


def _demo_secret(
    settings: Settings, name: str, what: str, variable: str, make: Callable[[], str]
) -> str:
    """A secret the demo keeps in a 0600 file next to its database, made on first use."""
    path = demo_secret_path(settings, name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
    err.print(
        f"[yellow]warning[/yellow] demo mode: {what} is kept in {path}. Anyone with that file "
        f"and a copy of the database has what it protects; set {variable} in production."
    )
    return path.read_text().strip()


def _ensure_demo_tenant() -> None:
    """Creates the demo tenant on first run; on later runs mints a fresh demo key, since a
    key's plain value is never stored and so cannot be shown again."""
    container = open_store(create=True)
    try:
        tenant = tenants.find_tenant(container.directory(), DEMO_TENANT)
    except DomainError:
        tenant, plain = tenants.create_tenant(container.directory(), DEMO_TENANT)
        err.print("[green]demo tenant created[/green]; its admin key:")
    else:
        _key, plain = tenants.create_key(container.uow(tenant.id), "demo key", Role.ADMIN)
        err.print("demo tenant exists; a new admin key for it:")
    err.print(f"[bold]{plain}[/bold]", soft_wrap=True)
    err.print(
        f"try: curl -H 'Authorization: Bearer {plain}' "
        f"http://{container.settings.host}:{container.settings.port}/v1/voucher-types",
        soft_wrap=True,
    )
    container.close()


# --- batches --------------------------------------------------------------------------


def _tenant_container(tenant: str) -> tuple[Container, uuid.UUID]:
    """The container and the tenant's id; first fails batches whose generator died."""
    from tessera.entrypoints.http.app import recover

    container, tenant_id = open_tenant(tenant)
    recover(container)
    return container, tenant_id


def _code_secret(container: Container) -> bytes:
    try:
        return container.code_secret
    except MissingCodeSecret as missing:
        refuse("no_code_secret", f"{missing}")


@batch_app.command("create")
def batch_create(
    tenant: Annotated[str, typer.Option(help="Tenant name")],
    voucher_type: Annotated[uuid.UUID, typer.Option("--type", help="Voucher type id")],
    count: Annotated[int, typer.Option(help="How many vouchers")],
    print_file: Annotated[Path, typer.Option(help="Where to write the CSV with the codes")],
    length: Annotated[int, typer.Option(help="Random symbols per code")] = 12,
    alphabet: Annotated[str, typer.Option(help="digits or alphanumeric")] = "digits",
    prefix: Annotated[str, typer.Option(help="Fixed start of every code")] = "",
    check_character: Annotated[bool, typer.Option(help="Append a check character")] = True,
    include_cost: Annotated[bool, typer.Option(help="Add cost to the print file")] = False,
    answer_format: FormatOpt = Format.TABLE,
) -> None:
    """Generate a batch, writing its print file to PATH (the only copy of the codes)."""
    container, tenant_id = _tenant_container(tenant)
    secret = _code_secret(container)
    if print_file.exists():
        err.print(f"[red]error[/red] {print_file} exists; it is never overwritten")
        raise typer.Exit(code=2)
    try:
        # CodeFormat checks the alphabet itself (formats also arrive as JSON).
        fmt = CodeFormat(length, cast(Alphabet, alphabet), prefix, check_character)
        request = BatchRequest(voucher_type, count, fmt, include_cost)
        batch = batches.create_batch(
            container.uow(tenant_id), request, Path(container.settings.print_dir), print_file
        )
        err.print(f"batch {batch.id}: serials {batch.serials.first}-{batch.serials.last}")
        columns = (*Progress.get_default_columns()[:-1], MofNCompleteColumn(), BarColumn())
        with Progress(*columns, TimeRemainingColumn(), console=err) as bar:
            task = bar.add_task("generating", total=count)
            batches.generate_batch(
                container.uow(tenant_id),
                batch.id,
                secret,
                progress=lambda done, _total: bar.update(task, completed=done),
                hand_over=True,
                chunk_size=container.settings.batch_chunk_size,
            )
    except DomainError as error:
        raise _fail(error) from None
    run(lambda: batch_routes.get_batch(batch.id, container.uow(tenant_id)), answer_format)


@batch_app.command("list")
def batch_list(
    tenant: TenantOpt,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """The tenant's batches, newest first: state, progress, serials."""
    columns = ("id", "state", "requested", "generated", "serial_first", "serial_last", "created_at")
    run(lambda: batch_routes.list_batches(tenant_uow(tenant), cursor, limit), fmt, columns)


@batch_app.command("show")
def batch_show(batch_id: uuid.UUID, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE) -> None:
    """State, progress and voucher counts by status."""
    container, tenant_id = _tenant_container(tenant)
    run(lambda: batch_routes.get_batch(batch_id, container.uow(tenant_id)), fmt)


@batch_app.command("recover")
def batch_recover() -> None:
    """Fail batches whose generating process is gone (also done by every batch command)."""
    from tessera.entrypoints.http.app import recover

    recover(open_store())


def _batch_operation(operation: BatchOperation) -> None:
    def command(
        batch_id: uuid.UUID,
        tenant: Annotated[str, typer.Option(help="Tenant name")],
        serial_from: Annotated[int | None, typer.Option("--from", help="First serial")] = None,
        serial_to: Annotated[int | None, typer.Option("--to", help="Last serial")] = None,
        fmt: FormatOpt = Format.TABLE,
    ) -> None:
        container, tenant_id = _tenant_container(tenant)
        try:
            change = batches.operate(
                container.uow(tenant_id), batch_id, operation, serial_from, serial_to
            )
        except DomainError as error:
            raise _fail(error) from None
        summary = {
            "operation": operation.value, "changed": change.count,
            "serial_first": change.serials.first, "serial_last": change.serials.last,
            "batch_state": change.batch.state.value,
        }  # fmt: skip
        show(summary, fmt)

    command.__doc__ = f"{operation.value.capitalize()} a batch, or a serial range with --from/--to."
    batch_app.command(operation.value)(command)


for _operation in BatchOperation:
    _batch_operation(_operation)


@voucher_app.command("show")
def voucher_show(
    serial: Annotated[int, typer.Argument(min=1, help="The serial printed on the card")],
    tenant: TenantOpt,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """A voucher by serial: status, type, subscriber, lifecycle dates (never its code)."""
    run(lambda: voucher_routes.get_voucher(serial, tenant_uow(tenant)), fmt)


if __name__ == "__main__":
    main()
