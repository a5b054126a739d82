"""Notifications: the events a tenant can subscribe webhooks to, the details each carries,
and the retry schedule of a delivery.

The details named here are what a message template may use; a template naming anything else
is refused when it is saved. Issues that emit an event add or extend its entry here.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from tessera.domain.errors import Invalid

EVENT_DETAILS: dict[str, frozenset[str]] = {
    # A subscriber rewarded: a partner code given by an operator, or any reward of a campaign.
    # ``kind`` says which (list_code, issue_voucher, credit_bucket) and so which details it
    # carries; a template renders the others as empty.
    "voucher.rewarded": frozenset(
        {
            "kind",
            "subscriber",
            "campaign",  # its name
            "campaign_id",
            "reward_id",
            "event_id",
            "expiry",
            # list_code
            "list_id",
            "list",
            "partner",
            "code",  # list_code and issue_voucher: in the webhook only, never in an API answer
            "description",
            # issue_voucher
            "serial",
            "voucher_type",
            "voucher_type_id",
            # credit_bucket
            "balance_type",
            "amount",
        }
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
        {
            "request_id",
            "serial",
            "voucher_type",
            "offer",
            "parameters",
            "action",
            "subscriber",
            "redeemed_at",
        }
    ),
    # a campaign whose condition failed TESSERA_CAMPAIGN_PAUSE_AFTER_FAILURES times in a row
    "campaign.paused": frozenset(
        {"campaign_id", "campaign", "failures", "last_message", "paused_at"}
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


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOWED_NETWORKS_SETTING = "TESSERA_WEBHOOK_ALLOWED_NETWORKS"


def webhook_target_refusal(
    scheme: str, host: str, addresses: Sequence[IpAddress], allowed: Sequence[IpNetwork]
) -> str | None:
    """Why a webhook must not go to ``host`` at ``addresses`` (what it resolved to), or None.

    On a host shared by brands, a tenant's webhook must not reach the host's own network:
    only public addresses, unless the operator allowed a network (an on-premise order
    system is often private); plain http only inside an allowed network. Every address the
    name resolves to must pass, or a second record could point inside."""
    if not addresses:
        return f"the host {host} does not resolve to an address"
    inside_allowed = True
    for address in addresses:
        plain = _unmapped(address)
        if any(plain in network for network in allowed):
            continue
        inside_allowed = False
        kind = _non_public_kind(plain)
        if kind is not None:
            return (
                f"the host {host} is at {plain}, a {kind} address: webhooks go to public"
                f" addresses only, or to networks the operator lists in {ALLOWED_NETWORKS_SETTING}"
            )
    if scheme != "https" and not inside_allowed:
        return f"must be https (plain http only to networks in {ALLOWED_NETWORKS_SETTING})"
    return None


def _unmapped(address: IpAddress) -> IpAddress:
    """``::ffff:127.0.0.1`` is 127.0.0.1 to the kernel, so it is judged as one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _non_public_kind(address: IpAddress) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:  # shared (100.64/10), documentation, benchmarking ranges
        return "non-public"
    return None


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
