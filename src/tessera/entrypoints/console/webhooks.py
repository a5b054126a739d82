"""Webhooks: the endpoints (create one: its signing secret is shown once; disable), the
deliveries with a status filter (the dead letters), a delivery's attempts, and retry."""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tessera.domain.notifications import NotificationStatus
from tessera.domain.roles import Permission
from tessera.entrypoints.console.web import (
    FORM_ERRORS,
    PREFIX,
    ConsoleRoute,
    Form,
    Signed,
    SignedIn,
    field_errors,
    redirect,
    render,
)
from tessera.entrypoints.http import notifications, webhooks

router = APIRouter(prefix=f"{PREFIX}/webhooks", route_class=ConsoleRoute, include_in_schema=False)
NAV = [("/webhooks", "Webhooks", "read")]


def _index(
    request: Request, signed: Signed, *, status_code: int = 200, status: str | None = None,
    cursor: str | None = None, errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None, created: webhooks.NewEndpointOut | None = None,
) -> Response:  # fmt: skip
    read = signed.uow(Permission.READ)
    wanted = NotificationStatus(status) if status in {s.value for s in NotificationStatus} else None
    return render(
        request, "webhooks.html", signed, status_code=status_code,
        endpoints=webhooks.list_endpoints(read, limit=200).items,
        deliveries=notifications.list_notifications(read, status=wanted, cursor=cursor, limit=50),
        status=wanted.value if wanted else "", statuses=[s.value for s in NotificationStatus],
        may_manage=signed.can(Permission.MANAGE_CATALOG), created=created,
        done=request.query_params.get("done"), errors=errors or {}, values=values or {},
    )  # fmt: skip


@router.get("")
def webhook_index(
    request: Request, signed: SignedIn, status: str | None = None, cursor: str | None = None
) -> Response:
    return _index(request, signed, status=status, cursor=cursor)


@router.post("")
def create_endpoint(request: Request, posted: Form) -> Response:
    signed = posted.signed
    uow = signed.uow(Permission.MANAGE_CATALOG)
    types = [t.strip() for t in posted.text("event_types").split(",") if t.strip()]
    try:
        body = webhooks.EndpointIn(url=posted.text("url"), event_types=types)
        created = webhooks.create_endpoint(body, uow, signed.container)
    except FORM_ERRORS as exc:
        return _index(
            request, signed, status_code=422, errors=field_errors(exc), values=posted.values
        )
    return _index(request, signed, created=created)


@router.post("/{endpoint_id}/disable")
def disable(endpoint_id: uuid.UUID, posted: Form) -> Response:
    signed = posted.signed
    webhooks.disable_endpoint(endpoint_id, signed.uow(Permission.MANAGE_CATALOG), signed.container)
    return redirect(f"{PREFIX}/webhooks", done="endpoint disabled")


@router.get("/deliveries/{notification_id}")
def delivery(request: Request, notification_id: int, signed: SignedIn) -> Response:
    shown = notifications.get_notification(notification_id, signed.uow(Permission.READ))
    return render(
        request, "delivery.html", signed, delivery=shown,
        may_manage=signed.can(Permission.MANAGE_CATALOG),
    )  # fmt: skip


@router.post("/deliveries/{notification_id}/retry")
def retry(notification_id: int, posted: Form) -> Response:
    notifications.retry_notification(notification_id, posted.signed.uow(Permission.MANAGE_CATALOG))
    return redirect(f"{PREFIX}/webhooks/deliveries/{notification_id}")
