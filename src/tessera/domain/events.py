"""Events from charging, billing and apps: what the rewards engine reacts to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tessera.domain.errors import Invalid

BUILTIN_TYPES = frozenset(
    {"usage.data", "usage.voice", "usage.sms", "topup", "balance.changed", "service.state_changed"}
)
STATE_CHANGED = "service.state_changed"
STATES = ("active", "suspended", "barred", "terminated")  # wallet.ServiceState's values
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    subscriber: str
    type: str
    occurred_at: datetime
    attributes: dict[str, Any] = field(default_factory=dict)

    def validated(self, field_prefix: str = "") -> Event:
        if not self.id.strip() or len(self.id) > 100:
            raise Invalid(f"{field_prefix}id", "must be 1 to 100 characters")
        if not EVENT_TYPE.match(self.type) or len(self.type) > 60:
            raise Invalid(
                f"{field_prefix}type",
                "must be a built-in type (usage.data, usage.voice, usage.sms, topup, "
                "balance.changed, service.state_changed) or a dotted lower-case custom name",
            )
        if not self.subscriber.strip():
            raise Invalid(f"{field_prefix}subscriber", "must not be empty")
        if self.type == STATE_CHANGED and self.new_state is None:
            raise Invalid(
                f"{field_prefix}attributes.state",
                f"a {STATE_CHANGED} event names the new state: one of {', '.join(STATES)}",
            )
        return self

    @property
    def new_state(self) -> str | None:
        """The service state a ``service.state_changed`` event moves its subscriber to."""
        state = self.attributes.get("state")
        return state if isinstance(state, str) and state in STATES else None
