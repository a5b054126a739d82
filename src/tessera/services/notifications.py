"""Notifications: webhook endpoints, message templates, and ``enqueue``, the transactional
outbox that every use case calls inside its own unit of work.

``enqueue`` writes one outbox row per subscribed endpoint in the caller's transaction, so a
notification exists if and only if the change that caused it committed. The dispatcher
(``services/dispatch.py``) delivers it later. Payloads are sealed at rest: a
``voucher.rewarded`` carries the partner code.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tessera.adapters.crypto import Sealer
from tessera.adapters.db.repositories.notifications import StoredNotification
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.adapters.templating import check_template, render
from tessera.adapters.webhooks import WebhookTargets
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid, NotFound, refuse_nulls
from tessera.domain.ids import new_id
from tessera.domain.notifications import (
    EVENT_DETAILS,
    Attempt,
    MessageTemplate,
    Notification,
    NotificationStatus,
    WebhookEndpoint,
    validate_event_type,
    validate_language,
    validate_webhook_url,
)
from tessera.domain.paging import Page


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def payload_context(tenant_id: uuid.UUID) -> bytes:
    return b"notification:" + tenant_id.bytes


def secret_context(endpoint_id: uuid.UUID) -> bytes:
    return b"webhook-secret:" + endpoint_id.bytes


def enqueue(
    uow: UnitOfWork, event_type: str, details: dict[str, Any], *, language: str | None = None
) -> int:
    """Queue ``event_type`` for every endpoint of the tenant that subscribed to it.

    Call it inside an entered unit of work, before ``commit``. ``details`` are plain values
    (str, int, None, datetime, UUID) named as in ``domain.notifications.EVENT_DETAILS``; the
    tenant's template for the event (in ``language`` when there is one) is rendered from them
    now, and the message travels in the payload. Returns how many deliveries were queued.
    """
    return enqueue_many(uow, event_type, [(details, language)])


def enqueue_many(
    uow: UnitOfWork,
    event_type: str,
    messages: Sequence[tuple[dict[str, Any], str | None]],
    endpoints: list[uuid.UUID] | None = None,
) -> int:
    """``enqueue`` for several messages (details, language) of one event type: one lookup of
    the endpoints (or ``endpoints``, when the caller looked them up) and of each language's
    template, one insert."""
    validate_event_type(event_type)
    if not messages:
        return 0
    if endpoints is None:
        endpoints = uow.webhooks.subscribed(event_type)
    if not endpoints:
        return 0
    now = uow.clock()
    templates: dict[str | None, MessageTemplate | None] = {}
    sealed_all = []
    for given, language in messages:
        if language not in templates:
            templates[language] = uow.templates.pick(event_type, language)
        template = templates[language]
        body = message_body(
            event_type, given, now, (template.language, template.body) if template else None
        )
        sealed_all.append(seal_body(uow.sealer, uow.tenant_id, body))
    uow.notifications.add_many(
        event_type, [(e, sealed) for sealed in sealed_all for e in endpoints], now
    )
    return len(endpoints) * len(sealed_all)


def message_body(
    event_type: str, given: dict[str, Any], now: datetime, template: tuple[str, str] | None
) -> dict[str, Any]:
    """The payload of one notification (before sealing): the details as JSON values, and the
    message rendered from ``template`` (language, body) when the tenant has one. Pure: the
    unit of work's ``enqueue`` and the redemption decision both build it here."""
    details = json.loads(json.dumps(given, default=_json_default))
    message, message_error = None, None
    if template is not None:
        try:
            message = render(template[1], details)
        except ValueError as exc:  # the change still happens; the receiver sees why
            message_error = str(exc)
    body = {
        "type": event_type,
        "occurred_at": now.isoformat(),
        "data": details,
        "message": message,
        "language": template[0] if template else None,
    }
    if message_error:
        body["message_error"] = message_error
    return body


def seal_body(sealer: Sealer, tenant_id: uuid.UUID, body: dict[str, Any]) -> bytes:
    return sealer.seal(json.dumps(body).encode(), payload_context(tenant_id))


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """Where a tenant's notifications of some event types go, read before a change is
    decided: the active endpoints that want each type (by id), and the template each type is
    rendered with when no language is asked (``MessageTemplateRepository.pick``), as
    (language, body)."""

    endpoints: Mapping[str, tuple[uuid.UUID, ...]]
    templates: Mapping[str, tuple[str, str]]

    @classmethod
    def of(
        cls,
        endpoints: Iterable[tuple[uuid.UUID, Sequence[str]]],
        templates: Iterable[tuple[str, str, str]],
    ) -> Subscriptions:
        """From (endpoint id, its event types) in id order and (event type, language, body)
        in the order ``pick`` prefers them (the first of each type wins)."""
        wanted: dict[str, list[uuid.UUID]] = {}
        for endpoint_id, event_types in endpoints:
            for event_type in dict.fromkeys(event_types):
                wanted.setdefault(event_type, []).append(endpoint_id)
        picked: dict[str, tuple[str, str]] = {}
        for event_type, language, body in templates:
            picked.setdefault(event_type, (language, body))
        return cls({k: tuple(v) for k, v in wanted.items()}, picked)

    def to(self, event_type: str) -> tuple[uuid.UUID, ...]:
        return self.endpoints.get(event_type, ())


NO_SUBSCRIPTIONS = Subscriptions({}, {})


def subscriptions(uow: UnitOfWork, event_types: Sequence[str]) -> Subscriptions:
    """The tenant's ``Subscriptions`` to ``event_types``, inside an entered unit of work: one
    lookup of the endpoints and, for each type someone wants, one of its template."""
    endpoints = uow.webhooks.subscribed_any(event_types)
    wanted = {event_type for _id, types in endpoints for event_type in types}
    templates = []
    for event_type in event_types:
        template = uow.templates.pick(event_type, None) if event_type in wanted else None
        if template is not None:
            templates.append((event_type, template.language, template.body))
    return Subscriptions.of(endpoints, templates)


# --- Webhook endpoints --------------------------------------------------------------------


def _event_types(event_types: list[str]) -> tuple[str, ...]:
    if not event_types:
        raise Invalid("event_types", "must name at least one event type")
    for index, event_type in enumerate(event_types):
        validate_event_type(event_type, f"event_types[{index}]")
    return tuple(dict.fromkeys(event_types))


def _endpoint_or_404(uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = uow.webhooks.get(endpoint_id)
    if endpoint is None:
        raise NotFound("no such webhook endpoint", code="webhook_not_found")
    return endpoint


def create_endpoint(
    uow: UnitOfWork,
    targets: WebhookTargets,
    url: str,
    event_types: list[str],
    secret: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (given, or made here); the secret is sealed.
    ``targets`` refuses a URL that reaches inside the host's network."""
    url = targets.check(validate_webhook_url(url))
    types = _event_types(event_types)
    if secret is not None and len(secret) < 16:
        raise Invalid("secret", "must be at least 16 characters (or leave it out to get one)")
    secret = secret or "whsec_" + secrets.token_urlsafe(32)
    with uow:
        now = uow.clock()
        endpoint = WebhookEndpoint(new_id(), url, types, True, now, now)
        uow.webhooks.add(endpoint, uow.sealer.seal(secret.encode(), secret_context(endpoint.id)))
        uow.edrs.append(_endpoint_edr("webhook.create", endpoint), now)
        uow.commit()
    return endpoint, secret


def update_endpoint(
    uow: UnitOfWork, targets: WebhookTargets, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> WebhookEndpoint:
    refuse_nulls(changes)
    if "url" in changes:
        changes["url"] = targets.check(validate_webhook_url(changes["url"]))
    if "event_types" in changes:
        changes["event_types"] = _event_types(changes["event_types"])
    with uow:
        current = _endpoint_or_404(uow, endpoint_id)
        updated = dataclasses.replace(current, **changes, updated_at=uow.clock())
        uow.webhooks.update(updated)
        uow.edrs.append(_endpoint_edr("webhook.update", updated), updated.updated_at)
        uow.commit()
    return updated


def get_endpoint(uow: UnitOfWork, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    with uow:
        return _endpoint_or_404(uow, endpoint_id)


def list_endpoints(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[WebhookEndpoint]:
    with uow:
        return uow.webhooks.list(cursor, limit)


def _endpoint_edr(operation: str, endpoint: WebhookEndpoint) -> EdrDraft:
    return EdrDraft(
        operation,
        "webhook",
        str(endpoint.id),
        status_after="active" if endpoint.active else "disabled",
        details={"url": endpoint.url, "event_types": list(endpoint.event_types)},
    )


# --- Message templates --------------------------------------------------------------------


def save_template(
    uow: UnitOfWork, event_type: str, language: str, body: str
) -> tuple[MessageTemplate, bool]:
    """Create or replace the template of an event in a language; returns it and whether new.

    Refused, with the line and the reason, if it does not compile or names a detail the
    event does not carry.
    """
    validate_event_type(event_type)
    validate_language(language)
    if len(body) > 10_000:
        raise Invalid("body", "must be at most 10000 characters")
    check_template(body, EVENT_DETAILS[event_type])
    with uow:
        now = uow.clock()
        current = uow.templates.get(event_type, language)
        if current is None:
            template = MessageTemplate(new_id(), event_type, language, body, now, now)
            uow.templates.add(template)
        else:
            template = dataclasses.replace(current, body=body, updated_at=now)
            uow.templates.update(template)
        uow.edrs.append(
            EdrDraft(
                "template.save",
                "template",
                f"{event_type}/{language}",
                details={"body": body},
            ),
            now,
        )
        uow.commit()
    return template, current is None


def get_template(uow: UnitOfWork, event_type: str, language: str) -> MessageTemplate:
    with uow:
        template = uow.templates.get(event_type, language)
    if template is None:
        raise NotFound("no template for this event and language", code="template_not_found")
    return template


def delete_template(uow: UnitOfWork, event_type: str, language: str) -> None:
    with uow:
        if not uow.templates.delete(event_type, language):
            raise NotFound("no template for this event and language", code="template_not_found")
        uow.edrs.append(
            EdrDraft("template.delete", "template", f"{event_type}/{language}"), uow.clock()
        )
        uow.commit()


def list_templates(
    uow: UnitOfWork, cursor: str | None, limit: int, event_type: str | None = None
) -> Page[MessageTemplate]:
    with uow:
        return uow.templates.list(cursor, limit, event_type)


# --- Notifications and dead letters -------------------------------------------------------


def _opened(uow: UnitOfWork, stored: StoredNotification) -> Notification:
    payload = json.loads(uow.sealer.open(stored.payload_sealed, payload_context(uow.tenant_id)))
    fields = {f.name: getattr(stored, f.name) for f in dataclasses.fields(stored)}
    del fields["payload_sealed"]
    return Notification(**fields, payload=payload)


def list_notifications(
    uow: UnitOfWork, cursor: str | None, limit: int, status: NotificationStatus | None = None
) -> Page[Notification]:
    with uow:
        page = uow.notifications.list(cursor, limit, status)
        return Page([_opened(uow, n) for n in page.items], page.next_cursor)


def get_notification(uow: UnitOfWork, notification_id: int) -> tuple[Notification, list[Attempt]]:
    with uow:
        stored = uow.notifications.get(notification_id)
        if stored is None:
            raise NotFound("no such notification", code="notification_not_found")
        return _opened(uow, stored), uow.notifications.attempts(notification_id)


def retry_notification(uow: UnitOfWork, notification_id: int) -> Notification:
    """Put a dead letter back in the queue, due now, with a fresh count of attempts."""
    with uow:
        now = uow.clock()
        if not uow.notifications.retry(notification_id, now):
            if uow.notifications.get(notification_id) is None:
                raise NotFound("no such notification", code="notification_not_found")
            raise Conflict("only a dead notification can be retried", code="notification_not_dead")
        uow.edrs.append(
            EdrDraft(
                "notification.retry",
                "notification",
                str(notification_id),
                status_before=NotificationStatus.DEAD.value,
                status_after=NotificationStatus.PENDING.value,
            ),
            now,
        )
        stored = uow.notifications.get(notification_id)
        assert stored is not None
        notification = _opened(uow, stored)
        uow.commit()
    return notification
