"""The expiry sweeper and the purge of finished vouchers.

Expiry is not stored on vouchers: it follows from each voucher's lifecycle as the lifecycle
is now. So both walk one lifecycle at a time, turn its rules into a cut-off on one column
(issue time, activation time or status change), and let the domain confirm each voucher.
Every change is a compare-and-set, so a sweep racing a redemption never expires a used
voucher, and two sweepers never expire one twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, UnitOfWork
from tessera.domain.catalog import VoucherType, VoucherTypeSpec
from tessera.domain.edr import EdrDraft
from tessera.domain.lifecycle import Lifecycle, ValidityKind
from tessera.domain.revenue import voucher_revenue
from tessera.domain.statuses import FINISHED, Operation, VoucherStatus, next_status, past_expiry
from tessera.domain.vouchers import Voucher, expiry_of, is_time_expired
from tessera.services import voucher_events

S = VoucherStatus
CHUNK = 1000
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass
class SweepReport:
    expired: int = 0
    closed: int = 0  # pending (unsold) vouchers past expiry
    released: int = 0

    def __iadd__(self, other: SweepReport) -> SweepReport:
        self.expired += other.expired
        self.closed += other.closed
        self.released += other.released
        return self


def _lifecycles(uow: UnitOfWork) -> Iterator[Lifecycle]:
    cursor: str | None = None
    while True:
        page = uow.lifecycles.list(cursor, 500)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _expiry_cutoff(lifecycle: Lifecycle, now: datetime) -> tuple[str, datetime] | None:
    """(column, cut-off): vouchers whose column is at or before it are past expiry + grace."""
    rules = lifecycle.rules
    if rules.validity_kind is ValidityKind.FIXED_DATE:
        assert rules.expires_at is not None
        return ("issued_at", _FAR_FUTURE) if rules.expires_at + rules.grace <= now else None
    assert rules.validity_days is not None
    cutoff = now - timedelta(days=rules.validity_days) - rules.grace
    column = "issued_at" if rules.validity_kind is ValidityKind.FROM_ISSUE else "activated_at"
    return column, cutoff


def expire_tenant(uow: UnitOfWork, chunk: int = CHUNK) -> SweepReport:
    """Expire this tenant's vouchers still unused after expiry + grace, recognizing their
    revenue, close its unsold ones past expiry, then release lapsed reservations."""
    report = expire_vouchers(uow, chunk)
    report.released = release_lapsed_holds(uow, chunk)
    return report


def expire_vouchers(uow: UnitOfWork, chunk: int = CHUNK) -> SweepReport:
    """Move this tenant's vouchers found past expiry + grace as ``past_expiry`` says: sold
    ones expire (recognizing their revenue), pending ones are closed."""
    report = SweepReport()
    with uow:
        lifecycles = list(_lifecycles(uow))
    types: dict[uuid.UUID, VoucherType] = {}
    sweepable = sorted(s for s in VoucherStatus if past_expiry(s) is not None)
    for lifecycle in lifecycles:
        while True:
            with uow:
                now = uow.clock()
                cut = _expiry_cutoff(lifecycle, now)
                if cut is None:
                    break
                due = uow.vouchers.due(lifecycle.id, sweepable, cut[0], cut[1], chunk)
                due = [v for v in due if is_time_expired(v, lifecycle.rules, now, now)]
                if not due:
                    break
                drafts = []
                for status in sweepable:
                    group = {v.id: v for v in due if v.status is status}
                    if not group:
                        continue
                    operation = past_expiry(status)
                    assert operation is not None
                    after = next_status(status, operation)
                    moved = uow.vouchers.move_many(
                        list(group), status, after, now, reserved_until=None
                    )
                    for voucher_id in sorted(moved):
                        voucher = group[voucher_id]
                        spec = _type_of(uow, types, voucher).spec
                        if operation is Operation.CLOSE:
                            drafts.append(_close_unsold_edr(voucher, spec.name, now))
                            report.closed += 1
                            continue
                        drafts.append(_expire_edr(voucher, spec, status, after, now))
                        # Recognized when the grace period ended, not when the sweep came.
                        ended = (expiry_of(voucher, lifecycle.rules) or now) + lifecycle.rules.grace
                        drafts += voucher_revenue(voucher, spec, status, after, ended, "expire")
                        voucher_events.voucher_expired(
                            uow, voucher, types[voucher.voucher_type_id], None, now
                        )
                        report.expired += 1
                uow.edrs.append_many(drafts, now)
                uow.commit()
                if len(due) < chunk:
                    break
    return report


def release_lapsed_holds(uow: UnitOfWork, chunk: int = CHUNK) -> int:
    """Put this tenant's reserved vouchers whose hold has lapsed back to available, on the
    record; returns how many."""
    released = 0
    while True:
        with uow:
            now = uow.clock()
            lapsed = uow.vouchers.lapsed_holds(now, chunk)
            moved = uow.vouchers.move_many(
                [v.id for v in lapsed], S.RESERVED, S.AVAILABLE, now, reserved_until=None
            )
            drafts = [
                EdrDraft(
                    "voucher.release",
                    "voucher",
                    str(v.serial),
                    status_before=S.RESERVED.value,
                    status_after=S.AVAILABLE.value,
                    details={"cause": "hold_lapsed"},
                )
                for v in lapsed
                if v.id in moved
            ]
            uow.edrs.append_many(drafts, now)
            uow.commit()
            released += len(drafts)
            if len(lapsed) < chunk:
                break
    return released


def _type_of(uow: UnitOfWork, types: dict[uuid.UUID, VoucherType], voucher: Voucher) -> VoucherType:
    voucher_type = types.get(voucher.voucher_type_id)
    if voucher_type is None:
        voucher_type = uow.voucher_types.get(voucher.voucher_type_id)
        assert voucher_type is not None
        types[voucher.voucher_type_id] = voucher_type
    return voucher_type


def _expire_edr(
    voucher: Voucher,
    spec: VoucherTypeSpec,
    before: VoucherStatus,
    after: VoucherStatus,
    now: datetime,
) -> EdrDraft:
    return EdrDraft(
        "voucher.expire",
        "voucher",
        str(voucher.serial),
        status_before=before.value,
        status_after=after.value,
        amount_minor=spec.cost_minor,
        currency=spec.currency,
        details={"revenue": "recognized", "voucher_type": spec.name, "swept_at": now.isoformat()},
    )


def _close_unsold_edr(voucher: Voucher, type_name: str, now: datetime) -> EdrDraft:
    # Never sold, so no revenue moves: no amount on the record.
    return EdrDraft(
        "voucher.close",
        "voucher",
        str(voucher.serial),
        status_before=VoucherStatus.PENDING.value,
        status_after=VoucherStatus.CLOSED.value,
        details={
            "cause": "expired_pending",
            "voucher_type": type_name,
            "swept_at": now.isoformat(),
        },
    )


def purge_tenant(uow: UnitOfWork, chunk: int = CHUNK) -> int:
    """Delete finished vouchers older than their lifecycle's retention; their EDRs stay,
    and each purge writes one more."""
    purged = 0
    finished = sorted(FINISHED)
    with uow:
        lifecycles = list(_lifecycles(uow))
    for lifecycle in lifecycles:
        while True:
            with uow:
                now = uow.clock()
                cutoff = now - lifecycle.rules.retention
                due = uow.vouchers.due(lifecycle.id, finished, "status_changed_at", cutoff, chunk)
                gone = uow.vouchers.delete_many([v.id for v in due], finished)
                uow.edrs.append_many(
                    [
                        EdrDraft(
                            "voucher.purge",
                            "voucher",
                            str(v.serial),
                            status_before=v.status.value,
                            details={
                                "status_changed_at": v.status_changed_at.isoformat(),
                                # the status report still counts it as of before its purge
                                "voucher_type_id": str(v.voucher_type_id),
                                "batch_id": None if v.batch_id is None else str(v.batch_id),
                            },
                        )
                        for v in due
                        if v.id in gone
                    ],
                    now,
                )
                uow.commit()
                purged += len(gone)
                if len(due) < chunk:
                    break
    return purged


def tenant_ids(directory: DirectoryUnitOfWork) -> list[uuid.UUID]:
    with directory:
        return [tenant.id for tenant in directory.tenants.all()]


def expire_all(
    directory: DirectoryUnitOfWork, uow_for: Callable[[uuid.UUID], UnitOfWork]
) -> SweepReport:
    report = SweepReport()
    for tenant_id in tenant_ids(directory):
        report += expire_tenant(uow_for(tenant_id))
    return report
