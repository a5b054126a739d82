"""Notifications: the outbox as an operator sees it, dead letters, and retrying them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel

from tessera.domain.money import MAX_AMOUNT
from tessera.domain.notifications import Attempt, Notification, NotificationStatus
from tessera.entrypoints.http.deps import CatalogManager, Reader
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import notifications

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


NotificationId = Annotated[int, Path(ge=1, le=MAX_AMOUNT)]


def _without_code(payload: dict[str, Any]) -> dict[str, Any]:
    """A code (a partner's, or an issued voucher's) travels to the tenant's webhook only; this
    API shows the rest, and the rendered message with the code left out."""
    data = payload.get("data")
    if not isinstance(data, dict) or "code" not in data:
        return payload
    shown = {**payload, "data": {**data, "code": None}}
    code, message = data["code"], payload.get("message")
    if isinstance(code, str) and code and isinstance(message, str):
        shown["message"] = message.replace(code, "[code]")
    return shown


class NotificationOut(BaseModel):
    id: int
    endpoint_id: uuid.UUID
    event_type: str
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            id=n.id,
            endpoint_id=n.endpoint_id,
            event_type=n.event_type,
            status=n.status,
            attempts=n.attempts,
            next_attempt_at=n.next_attempt_at if n.status is NotificationStatus.PENDING else None,
            last_error=n.last_error,
            created_at=n.created_at,
            delivered_at=n.delivered_at,
            payload=_without_code(n.payload),
        )


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, a: Attempt) -> AttemptOut:
        return cls(
            attempted_at=a.attempted_at,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
        )


class NotificationDetailOut(NotificationOut):
    attempt_log: list[AttemptOut]


@router.get("")
def list_notifications(
    uow: Reader,
    status: NotificationStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> PageOut[NotificationOut]:
    """`?status=dead` lists the dead letters."""
    page = notifications.list_notifications(uow, cursor, limit, status)
    return PageOut(items=[NotificationOut.of(n) for n in page.items], next_cursor=page.next_cursor)


@router.get("/{notification_id}")
def get_notification(notification_id: NotificationId, uow: Reader) -> NotificationDetailOut:
    notification, attempts = notifications.get_notification(uow, notification_id)
    return NotificationDetailOut(
        **NotificationOut.of(notification).model_dump(),
        attempt_log=[AttemptOut.of(a) for a in attempts],
    )


@router.post("/{notification_id}/retry")
def retry_notification(notification_id: NotificationId, uow: CatalogManager) -> NotificationOut:
    """Send a dead letter again (due now, with a fresh count of attempts)."""
    return NotificationOut.of(notifications.retry_notification(uow, notification_id))
