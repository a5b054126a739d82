"""Webhook endpoints, message templates and the notification outbox.

A tenant's own view (its endpoints, templates, dead letters) is tenant-scoped like everything
else. The dispatcher works above tenancy, like the key lookup: ``OutboxQueue`` claims due
notifications of every tenant, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that several
dispatchers never claim the same row; on SQLite the claim is one serialized write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.notifications import (
    Attempt,
    MessageTemplate,
    NotificationStatus,
    WebhookEndpoint,
)
from tessera.domain.paging import Page


def _endpoint(row: sa.RowMapping) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        url=row["url"],
        event_types=tuple(row["event_types"]),
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class WebhookEndpointRepository(TenantScoped):
    table = t.webhook_endpoints

    def add(self, endpoint: WebhookEndpoint, secret_sealed: bytes) -> None:
        self.conn.execute(
            self._insert(
                id=endpoint.id,
                url=endpoint.url,
                event_types=list(endpoint.event_types),
                secret_sealed=secret_sealed,
                active=endpoint.active,
                created_at=endpoint.created_at,
                updated_at=endpoint.updated_at,
            )
        )

    def get(self, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
        stmt = self._select().where(self.table.c.id == endpoint_id)
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _endpoint(row)

    def update(self, endpoint: WebhookEndpoint) -> None:
        self.conn.execute(
            self._update(self.table.c.id == endpoint.id).values(
                url=endpoint.url,
                event_types=list(endpoint.event_types),
                active=endpoint.active,
                updated_at=endpoint.updated_at,
            )
        )

    def subscribed(self, event_type: str) -> list[uuid.UUID]:
        """Active endpoints that want ``event_type`` (a tenant has a handful: filtered here)."""
        c = self.table.c
        rows = self.conn.execute(self._select(c.id, c.event_types).where(c.active.is_(True)))
        return [row.id for row in rows if event_type in row.event_types]

    def subscribed_any(self, event_types: Sequence[str]) -> list[tuple[uuid.UUID, list[str]]]:
        """Active endpoints that want any of ``event_types``, in id order, each with the ones
        of ``event_types`` it wants."""
        c = self.table.c
        stmt = self._select(c.id, c.event_types).where(c.active.is_(True)).order_by(c.id)
        found = []
        for row in self.conn.execute(stmt):
            wanted = [e for e in event_types if e in row.event_types]
            if wanted:
                found.append((row.id, wanted))
        return found

    def list(self, cursor: str | None, limit: int) -> Page[WebhookEndpoint]:
        return self._page(self._select(), self.table.c.id, cursor, limit, _endpoint)


def _template(row: sa.RowMapping) -> MessageTemplate:
    return MessageTemplate(
        id=row["id"],
        event_type=row["event_type"],
        language=row["language"],
        body=row["body"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class MessageTemplateRepository(TenantScoped):
    table = t.message_templates

    def get(self, event_type: str, language: str) -> MessageTemplate | None:
        c = self.table.c
        stmt = self._select().where(c.event_type == event_type, c.language == language)
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _template(row)

    def add(self, template: MessageTemplate) -> None:
        self.conn.execute(
            self._insert(
                id=template.id,
                event_type=template.event_type,
                language=template.language,
                body=template.body,
                created_at=template.created_at,
                updated_at=template.updated_at,
            )
        )

    def update(self, template: MessageTemplate) -> None:
        self.conn.execute(
            self._update(self.table.c.id == template.id).values(
                body=template.body, updated_at=template.updated_at
            )
        )

    def delete(self, event_type: str, language: str) -> bool:
        c = self.table.c
        stmt = self._delete(c.event_type == event_type, c.language == language)
        return self.conn.execute(stmt).rowcount == 1

    def pick(self, event_type: str, language: str | None) -> MessageTemplate | None:
        """The template in ``language``, else the event's oldest template, else none."""
        c = self.table.c
        stmt = self._select().where(c.event_type == event_type)
        if language is not None:
            stmt = stmt.order_by(sa.case((c.language == language, 0), else_=1))
        row = self.conn.execute(stmt.order_by(c.id).limit(1)).mappings().first()
        return None if row is None else _template(row)

    def list(
        self, cursor: str | None, limit: int, event_type: str | None = None
    ) -> Page[MessageTemplate]:
        stmt = self._select()
        if event_type is not None:
            stmt = stmt.where(self.table.c.event_type == event_type)
        return self._page(stmt, self.table.c.id, cursor, limit, _template)


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """A notification row with its payload still sealed."""

    id: int
    endpoint_id: uuid.UUID
    event_type: str
    payload_sealed: bytes
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _stored(row: sa.RowMapping) -> StoredNotification:
    return StoredNotification(
        id=row["id"],
        endpoint_id=row["endpoint_id"],
        event_type=row["event_type"],
        payload_sealed=bytes(row["payload_sealed"]),
        status=NotificationStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )


def _attempt(row: sa.RowMapping) -> Attempt:
    return Attempt(
        id=row["id"],
        notification_id=row["notification_id"],
        attempted_at=row["attempted_at"],
        status_code=row["status_code"],
        error=row["error"],
        duration_ms=row["duration_ms"],
    )


class NotificationRepository(TenantScoped):
    table = t.notifications

    def add_many(self, event_type: str, rows: list[tuple[uuid.UUID, bytes]], now: datetime) -> None:
        """Queues (endpoint id, sealed payload) pairs, due now, in one statement."""
        if rows:
            self.conn.execute(
                sa.insert(self.table),
                [
                    {
                        "tenant_id": self.tenant_id,
                        "endpoint_id": endpoint_id,
                        "event_type": event_type,
                        "payload_sealed": sealed,
                        "status": NotificationStatus.PENDING.value,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for endpoint_id, sealed in rows
                ],
            )

    def get(self, notification_id: int) -> StoredNotification | None:
        stmt = self._select().where(self.table.c.id == notification_id)
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _stored(row)

    def attempts(self, notification_id: int) -> list[Attempt]:
        a = t.notification_attempts
        stmt = (
            sa.select(a)
            .where(self._mine(a), a.c.notification_id == notification_id)
            .order_by(a.c.id)
        )
        return [_attempt(row) for row in self.conn.execute(stmt).mappings()]

    def list(
        self, cursor: str | None, limit: int, status: NotificationStatus | None = None
    ) -> Page[StoredNotification]:
        stmt = self._select()
        if status is not None:
            stmt = stmt.where(self.table.c.status == status.value)
        return self._page(stmt, self.table.c.id, cursor, limit, _stored, parse_key=int)

    def retry(self, notification_id: int, now: datetime) -> bool:
        """Send a dead letter again from scratch (its earlier attempts stay logged)."""
        c = self.table.c
        stmt = self._update(c.id == notification_id, c.status == NotificationStatus.DEAD.value)
        stmt = stmt.values(status=NotificationStatus.PENDING.value, attempts=0, next_attempt_at=now)
        return self.conn.execute(stmt).rowcount == 1


@dataclass(frozen=True, slots=True)
class Claimed:
    """A due notification and where it goes, as the dispatcher needs it."""

    id: int
    tenant_id: uuid.UUID
    event_type: str
    payload_sealed: bytes
    attempts: int
    endpoint_id: uuid.UUID
    url: str
    secret_sealed: bytes
    endpoint_active: bool


class OutboxQueue:
    """The dispatcher's side of the outbox, across tenants (like ``TenantDirectory``)."""

    table = t.notifications

    def __init__(self, connection: sa.Connection) -> None:
        self.conn = connection

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due notifications, hiding them from other dispatchers until
        ``lease_until`` (a dispatcher that dies mid-delivery only delays them)."""
        c = self.table.c
        due = (
            sa.select(c.id)
            .where(c.status == NotificationStatus.PENDING.value, c.next_attempt_at <= now)
            .order_by(c.next_attempt_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # rendered on PostgreSQL only
        )
        stmt = (
            sa.update(self.table)
            .where(c.id.in_(due.scalar_subquery()))
            .values(next_attempt_at=lease_until)
            .returning(c.id)
        )
        ids = list(self.conn.execute(stmt).scalars())
        if not ids:
            return []
        e = t.webhook_endpoints
        rows = self.conn.execute(
            sa.select(
                c.id,
                c.tenant_id,
                c.event_type,
                c.payload_sealed,
                c.attempts,
                e.c.id.label("endpoint_id"),
                e.c.url,
                e.c.secret_sealed,
                e.c.active,
            )
            .join(e, sa.and_(e.c.id == c.endpoint_id, e.c.tenant_id == c.tenant_id))
            .where(c.id.in_(ids))
            .order_by(c.id)
        )
        return [
            Claimed(
                id=row.id,
                tenant_id=row.tenant_id,
                event_type=row.event_type,
                payload_sealed=bytes(row.payload_sealed),
                attempts=row.attempts,
                endpoint_id=row.endpoint_id,
                url=row.url,
                secret_sealed=bytes(row.secret_sealed),
                endpoint_active=row.active,
            )
            for row in rows
        ]

    def log_attempt(
        self,
        claimed: Claimed,
        at: datetime,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        self.conn.execute(
            sa.insert(t.notification_attempts).values(
                tenant_id=claimed.tenant_id,
                notification_id=claimed.id,
                attempted_at=at,
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )

    def settle(
        self,
        notification_id: int,
        status: NotificationStatus,
        attempts: int,
        next_attempt_at: datetime,
        error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        c = self.table.c
        self.conn.execute(
            sa.update(self.table)
            .where(c.id == notification_id, c.status == NotificationStatus.PENDING.value)
            .values(
                status=status.value,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                last_error=error,
                delivered_at=delivered_at,
            )
        )
