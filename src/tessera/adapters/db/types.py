"""Column types that behave the same on SQLite and PostgreSQL, and JSON text for them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Always timezone-aware UTC in Python; SQLite would otherwise hand back naive values."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument: Any = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def json_text(value: Any) -> str:
    """JSON for a statement parameter, by orjson: encoding event batches and shared
    redemptions with the standard library was ~11 % of a busy worker's CPU. orjson refuses
    integers past 64 bits, which an event attribute may hold: those take the standard
    library."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)
