"""Event detail records: one append-only line per change, written in the change's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class EdrDraft:
    """What a use case records; the data layer stamps tenant, time and id."""

    operation: str
    subject_type: str
    subject_id: str
    status_before: str | None = None
    status_after: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Edr:
    id: int
    tenant_id: uuid.UUID
    occurred_at: datetime
    actor_key_id: uuid.UUID | None
    operation: str
    subject_type: str
    subject_id: str
    status_before: str | None
    status_after: str | None
    amount_minor: int | None
    currency: str | None
    details: dict[str, Any]


SUBSCRIBER_SCOPE = "subscriber:"  # a bar's (and a wrong code's) caller scope


def subscriber_of(draft: EdrDraft) -> str | None:
    """The subscriber a record is about (its history): the subject when that is a subscriber,
    the subscriber scope of a bar or a wrong code, else the subscriber its details name."""
    if draft.subject_type == "subscriber":
        return draft.subject_id
    if draft.subject_type == "caller":
        scope = draft.subject_id
        return scope[len(SUBSCRIBER_SCOPE) :] if scope.startswith(SUBSCRIBER_SCOPE) else None
    named = draft.details.get("subscriber")
    return named if isinstance(named, str) and named else None
