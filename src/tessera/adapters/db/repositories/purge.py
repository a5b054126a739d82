"""Deleting what is past its retention, for one tenant, a bounded batch per call.

Each call is one short statement (or two, for notifications and their attempts) that picks
at most ``limit`` rows by key and deletes them, so a purge never holds many locks for long;
the caller commits after each call and calls again until fewer than ``limit`` went.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.notifications import NotificationStatus


class PurgeRepository(TenantScoped):
    table = t.events  # each method names its own table

    def _delete_some(
        self, table: sa.Table, keys: list[sa.Column[Any]], limit: int, *where: Any
    ) -> int:
        mine = self._mine(table)
        picked = sa.select(*keys).where(mine, *where).limit(limit)
        target = keys[0] if len(keys) == 1 else sa.tuple_(*keys)
        return int(self.conn.execute(sa.delete(table).where(mine, target.in_(picked))).rowcount)

    def events(self, cutoff: datetime, limit: int) -> int:
        """Events that happened and arrived before ``cutoff`` (a late arrival stays until its
        arrival is that old too, so a resend is still recognized as a duplicate meanwhile)."""
        c = t.events.c
        return self._delete_some(
            t.events, [c.id], limit, c.occurred_at < cutoff, c.received_at < cutoff
        )

    def aggregate_windows(self, day: str, month: str, limit: int) -> int:
        """Day buckets before ``day`` (YYYY-MM-DD) and month buckets before ``month`` (YYYY-MM)."""
        c = t.aggregate_values.c
        old = _windows_before(c.bucket, day, month)
        return self._delete_some(t.aggregate_values, [c.subscriber, c.name, c.bucket], limit, old)

    def cap_windows(self, day: str, month: str, limit: int) -> int:
        """Per-subscriber cap counts of days before ``day`` and months before ``month``
        (a campaign-long count, period ``all``, stays)."""
        c = t.campaign_subscriber_counts.c
        old = _windows_before(c.period, day, month)
        return self._delete_some(
            t.campaign_subscriber_counts, [c.campaign_id, c.subscriber, c.period], limit, old
        )

    def delivered_notifications(self, cutoff: datetime, limit: int) -> tuple[int, int]:
        """Notifications delivered before ``cutoff``, with their attempts: (notifications,
        attempts) deleted. Pending and dead ones stay (a dead one waits for an operator)."""
        n, a = t.notifications, t.notification_attempts
        ids = list(
            self.conn.execute(
                sa.select(n.c.id)
                .where(
                    self._mine(n),
                    n.c.status == NotificationStatus.DELIVERED.value,
                    n.c.delivered_at < cutoff,
                )
                .limit(limit)
            ).scalars()
        )
        if not ids:
            return 0, 0
        attempts = self.conn.execute(
            sa.delete(a).where(self._mine(a), self._in(a.c.notification_id, ids))
        ).rowcount
        gone = self.conn.execute(sa.delete(n).where(self._mine(n), self._in(n.c.id, ids))).rowcount
        return int(gone), int(attempts)

    def idempotency_keys(self, cutoff: datetime, limit: int) -> int:
        c = t.idempotency_keys.c
        return self._delete_some(t.idempotency_keys, [c.key], limit, c.created_at < cutoff)

    def failed_attempts(self, window_cutoff: datetime, bar_cutoff: datetime, limit: int) -> int:
        """Wrong-code counts whose window began before ``window_cutoff`` and whose bar, if
        any, ended before ``bar_cutoff``: they no longer count or bar anyone."""
        c = t.failed_attempts.c
        ended = sa.or_(c.barred_until.is_(None), c.barred_until < bar_cutoff)
        return self._delete_some(
            t.failed_attempts, [c.scope], limit, c.window_started_at < window_cutoff, ended
        )

    def finished_buckets(self, cutoff: datetime, limit: int) -> int:
        """Wallet buckets spent to zero and made before ``cutoff``, or expired before it."""
        c = t.buckets.c
        finished = sa.or_(
            sa.and_(c.amount == 0, c.created_at < cutoff),
            sa.and_(c.expires_at.is_not(None), c.expires_at < cutoff),
        )
        return self._delete_some(t.buckets, [c.id], limit, finished)


def _windows_before(key: sa.Column[Any], day: str, month: str) -> sa.ColumnElement[bool]:
    """A window key (YYYY-MM-DD or YYYY-MM, which compare as text) before the given ones."""
    return sa.or_(
        sa.and_(sa.func.length(key) == len(day), key < day),
        sa.and_(sa.func.length(key) == len(month), key < month),
    )
