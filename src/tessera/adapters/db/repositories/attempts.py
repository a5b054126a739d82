"""Wrong-code attempts per scope, and bars. One conditional upsert per failure: the window
restarts when it has passed, and reaching the threshold sets the bar and starts over."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.types import UTCDateTime
from tessera.domain.paging import Page
from tessera.domain.vouchers import BarPolicy


@dataclass(frozen=True, slots=True)
class Bar:
    scope: str  # "key:<key id>" or "subscriber:<external id>"
    barred_until: datetime


class FailedAttemptRepository(TenantScoped):
    table = t.failed_attempts

    def active_bars(self, now: datetime, cursor: str | None, limit: int) -> Page[Bar]:
        """Bars still running at ``now``, by scope."""
        c = self.table.c
        stmt = self._select(c.scope, c.barred_until).where(c.barred_until > now)
        return self._page(
            stmt, c.scope, cursor, limit, lambda r: Bar(r["scope"], r["barred_until"]), str
        )

    def lift(self, scope: str, now: datetime) -> datetime | None:
        """Ends a running bar and its count (one conditional update); returns when it would
        have ended, or None when the scope was not barred."""
        c = self.table.c
        until: datetime | None = self.conn.execute(
            self._select(c.barred_until).where(c.scope == scope)
        ).scalar()  # for the record only: the update below decides
        stmt = (
            self._update(c.scope == scope, c.barred_until > now)
            .values(barred_until=None, failures=0, window_started_at=now)
            .returning(c.scope)
        )
        lifted = self.conn.execute(stmt).first() is not None
        return until if lifted else None

    def barred_until(self, scopes: Sequence[str]) -> datetime | None:
        if not scopes:
            return None
        c = self.table.c
        stmt = self._select(sa.func.max(c.barred_until)).where(c.scope.in_(list(scopes)))
        value: datetime | None = self.conn.execute(stmt).scalar()
        return value

    def record_failure(self, scope: str, now: datetime, policy: BarPolicy) -> datetime | None:
        """Count one failure; returns the bar's end when this failure sets a bar."""
        dialect: Any = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        c = self.table.c
        bar_until = now + policy.period
        at_now = sa.literal(now, UTCDateTime)
        stale = c.window_started_at <= sa.literal(now - policy.window, UTCDateTime)
        count = sa.case((stale, 1), else_=c.failures + 1)
        threshold = policy.threshold_of(scope)
        reaches = count >= threshold
        insert = dialect.insert(self.table).values(
            tenant_id=self.tenant_id,
            scope=scope,
            window_started_at=now,
            failures=1,
            barred_until=bar_until if threshold <= 1 else None,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["tenant_id", "scope"],
            set_={
                "failures": sa.case((reaches, 0), else_=count),
                "window_started_at": sa.case(
                    (stale, at_now), (reaches, at_now), else_=c.window_started_at
                ),
                "barred_until": sa.case(
                    (reaches, sa.literal(bar_until, UTCDateTime)), else_=c.barred_until
                ),
            },
        ).returning(c.barred_until)
        until: datetime | None = self.conn.execute(stmt).scalar_one()
        return until if until == bar_until else None
