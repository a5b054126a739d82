"""``tessera webhook ...`` and ``tessera notification ...`` (deliveries and dead letters)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from tessera.domain.notifications import NotificationStatus
from tessera.entrypoints.cli_common import (
    CursorOpt,
    FileOpt,
    Format,
    FormatOpt,
    JsonOpt,
    LimitOpt,
    TenantOpt,
    body_of,
    open_tenant,
    resource_commands,
    run,
    tenant_uow,
)
from tessera.entrypoints.http import notifications, webhooks

webhook_app = typer.Typer(help="Webhook endpoints.", no_args_is_help=True)
notification_app = typer.Typer(
    help="Notifications: deliveries, dead letters.", no_args_is_help=True
)
NotificationArg = Annotated[int, typer.Argument(metavar="ID")]
EndpointArg = Annotated[uuid.UUID, typer.Argument(metavar="ID")]


resource_commands(
    webhook_app,
    "webhook endpoint",
    columns=("id", "url", "event_types", "active"),
    listing=webhooks.list_endpoints,
    get=webhooks.get_endpoint,
)


@webhook_app.command("create")
def webhook_create(
    tenant: TenantOpt,
    url: Annotated[str, typer.Option(help="https to a public address (see the README)")],
    event: Annotated[list[str], typer.Option(help="An event type to deliver (repeatable)")],
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Subscribe an endpoint; its signing secret is shown once."""
    body = body_of(webhooks.EndpointIn, None, None, url=url, event_types=event)
    container, tenant_id = open_tenant(tenant)
    run(lambda: webhooks.create_endpoint(body, container.uow(tenant_id), container), fmt)


@webhook_app.command("update")
def webhook_update(
    endpoint_id: EndpointArg,
    tenant: TenantOpt,
    json_text: JsonOpt = None,
    file: FileOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Change an endpoint: only the fields given change (url?, event_types?, active?)."""
    body = body_of(webhooks.EndpointPatch, json_text, file)
    container, tenant_id = open_tenant(tenant)
    run(
        lambda: webhooks.update_endpoint(endpoint_id, body, container.uow(tenant_id), container),
        fmt,
    )


@webhook_app.command("disable")
def webhook_disable(
    endpoint_id: EndpointArg, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE
) -> None:
    """Disable an endpoint (kept, with its delivery log)."""
    container, tenant_id = open_tenant(tenant)
    run(lambda: webhooks.disable_endpoint(endpoint_id, container.uow(tenant_id), container), fmt)


@notification_app.command("list")
def notification_list(
    tenant: TenantOpt,
    status: Annotated[
        NotificationStatus | None, typer.Option(help="dead: the dead letters")
    ] = None,
    cursor: CursorOpt = None,
    limit: LimitOpt = 100,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """The tenant's notifications, newest first; --status dead lists the dead letters."""
    columns = ("id", "event_type", "status", "attempts", "endpoint_id", "last_error")
    run(
        lambda: notifications.list_notifications(tenant_uow(tenant), status, cursor, limit),
        fmt,
        columns,
    )


@notification_app.command("show")
def notification_show(
    notification_id: NotificationArg, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE
) -> None:
    """One notification with its attempt log."""
    run(lambda: notifications.get_notification(notification_id, tenant_uow(tenant)), fmt)


@notification_app.command("retry")
def notification_retry(
    notification_id: NotificationArg, tenant: TenantOpt, fmt: FormatOpt = Format.TABLE
) -> None:
    """Send a dead letter again (due now, with a fresh count of attempts)."""
    run(lambda: notifications.retry_notification(notification_id, tenant_uow(tenant)), fmt)
