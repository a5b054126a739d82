"""The purge: everything that would otherwise grow without bound, deleted once past its
retention, tenant by tenant, in bounded batches (one short transaction each).

What goes, and after how long (settings ``TESSERA_*_RETENTION_*``; vouchers: their lifecycle):
finished vouchers (used, expired, canceled, closed; each purge writes an EDR), events, day
and month windows of aggregates and of per-subscriber caps (both after the aggregate
retention), delivered notifications with their attempts, idempotency keys,
wrong-code counts whose window and bar are over, wallet buckets spent to zero or expired.
EDRs are never deleted, and nothing else points at a voucher by a foreign key but the
voucher that replaced it (that link is cleared; the reissue EDR keeps both serials).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, UnitOfWork
from tessera.services.expiry import purge_tenant, tenant_ids

BATCH = 5000


@dataclass(frozen=True)
class Retention:
    events: timedelta
    aggregate_windows: timedelta
    notifications: timedelta
    idempotency_keys: timedelta
    failed_attempts: timedelta
    buckets: timedelta
    bar_window: timedelta  # a wrong-code count is alive this long after its window began


@dataclass
class PurgeReport:
    """Rows deleted, by table."""

    rows: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, count: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + count


def _until_done(uow: UnitOfWork, step: Callable[[UnitOfWork], int], limit: int) -> int:
    """Runs ``step`` (which deletes at most ``limit`` rows) in one transaction after another
    until a step deletes fewer than ``limit``."""
    total = 0
    while True:
        with uow:
            count = step(uow)
            uow.commit()
        total += count
        if count < limit:
            return total


def purge_tenant_data(
    uow: UnitOfWork, retention: Retention, batch: int = BATCH, report: PurgeReport | None = None
) -> PurgeReport:
    report = report if report is not None else PurgeReport()
    now = uow.clock()
    report.add("vouchers", purge_tenant(uow, batch))
    events_before = now - retention.events
    report.add("events", _until_done(uow, lambda u: u.purge.events(events_before, batch), batch))
    windows_before = (now - retention.aggregate_windows).date().isoformat()
    report.add(
        "aggregate_values",
        _until_done(
            uow,
            lambda u: u.purge.aggregate_windows(windows_before, windows_before[:7], batch),
            batch,
        ),
    )
    report.add(
        "campaign_subscriber_counts",
        _until_done(
            uow, lambda u: u.purge.cap_windows(windows_before, windows_before[:7], batch), batch
        ),
    )
    delivered_before = now - retention.notifications

    def notifications(u: UnitOfWork) -> int:
        gone, attempts = u.purge.delivered_notifications(delivered_before, batch)
        report.add("notification_attempts", attempts)
        return gone

    report.add("notifications", _until_done(uow, notifications, batch))
    keys_before = now - retention.idempotency_keys
    report.add(
        "idempotency_keys",
        _until_done(uow, lambda u: u.purge.idempotency_keys(keys_before, batch), batch),
    )
    bars_before = now - retention.failed_attempts
    windows_begun_before = bars_before - retention.bar_window
    report.add(
        "failed_attempts",
        _until_done(
            uow, lambda u: u.purge.failed_attempts(windows_begun_before, bars_before, batch), batch
        ),
    )
    buckets_before = now - retention.buckets
    report.add(
        "buckets",
        _until_done(uow, lambda u: u.purge.finished_buckets(buckets_before, batch), batch),
    )
    return report


def purge_all(
    directory: DirectoryUnitOfWork,
    uow_for: Callable[[uuid.UUID], UnitOfWork],
    retention: Retention,
    batch: int = BATCH,
) -> PurgeReport:
    report = PurgeReport()
    for tenant_id in tenant_ids(directory):
        purge_tenant_data(uow_for(tenant_id), retention, batch, report)
    return report
