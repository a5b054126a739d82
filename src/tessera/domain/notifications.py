"""Notifications: the events a tenant can subscribe webhooks to, the details each carries,
and the retry schedule of a delivery.

The details named here are what a message template may use; a template naming anything else
is refused when it is saved. Issues that emit an event add or extend its entry here.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tessera.domain.errors import Invalid

EVENT_DETAILS: dict[str, frozenset[str]] = {
    # a partner code given to a subscriber (by an operator, or by a campaign's reward)
    "voucher.rewarded": frozenset(
        {"list_id", "list", "partner", "code", "description", "expiry", "subscriber", "campaign"}
    ),
    "voucher_list.low_stock": frozenset(
        {
            "list_id",
            "list",
            "partner",
            "uploaded",
            "issued",
            "redeemed",
            "remaining",
            "threshold_percent",
            "issued_percent",
        }
    ),
    "voucher.redeemed": frozenset(
        {
            "serial",
            "code_last4",
            "voucher_type",
            "subscriber",
            "redeemed_at",
            "amount_minor",
            "currency",
        }
    ),
    "voucher.expired": frozenset({"serial", "voucher_type", "subscriber", "expired_at"}),
    "fulfilment.requested": frozenset(
        {"serial", "voucher_type", "offer", "action", "subscriber", "redeemed_at"}
    ),
}

EVENT_TYPES = frozenset(EVENT_DETAILS)
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # kept failing: waits for an operator to retry it


def validate_event_type(event_type: str, field: str = "event_type") -> str:
    if event_type not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise Invalid(field, f"'{event_type}' is not an event type (one of: {known})")
    return event_type


def validate_language(language: str) -> str:
    if not LANGUAGE.match(language):
        raise Invalid("language", "must be a language tag such as en, sw or pt-BR")
    return language


def validate_webhook_url(url: str) -> str:
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise Invalid("url", "must be an http(s) URL of at most 2000 characters")
    return url


def backoff(attempts: int, base_seconds: float, cap_seconds: float) -> timedelta:
    """Wait before the next try after ``attempts`` failures: base, 2x, 4x, ... up to the cap."""
    return timedelta(seconds=min(cap_seconds, base_seconds * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    active: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    id: uuid.UUID
    event_type: str
    language: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    endpoint_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    id: int
    notification_id: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
