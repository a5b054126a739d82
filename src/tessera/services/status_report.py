"""The voucher status report: counts by type or batch and state, now or as of a past
instant (the counts now rewound through the status changes the EDRs recorded since)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tessera.adapters.db.repositories.voucher_counts import Gone
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.errors import Invalid
from tessera.domain.statuses import Operation
from tessera.domain.voucher_counts import STATES, GroupKey, StatusCounts, bulk_target


class StatusGrouping(StrEnum):
    TYPE = "type"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class StatusLine:
    group: str | None  # the type's id, or the batch's (None: vouchers issued one by one)
    voucher_type_id: str
    name: str  # the voucher type's name
    counts: dict[str, int]  # every state of STATES

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class StatusReport:
    as_of: datetime
    group_by: StatusGrouping
    lines: list[StatusLine]
    totals: dict[str, int]


def status_report(
    uow: UnitOfWork, as_of: datetime | None, group_by: StatusGrouping = StatusGrouping.TYPE
) -> StatusReport:
    """The counts by state; ``as_of`` a past instant rewinds each change recorded after it
    (a voucher's, or a batch's or range's, whose EDR says how many moved from each state),
    and leaves out the batches made after it."""
    with uow:
        now = uow.clock()
        if as_of is not None and as_of > now:
            raise Invalid("as_of", "is in the future: the counts are known up to now")
        at = now if as_of is None else as_of
        counts = StatusCounts()
        for key, state, n in uow.voucher_counts.now():
            counts.add(key, state, n)
        batches = uow.voucher_counts.batches()
        if at < now:
            for found, before, after, n in uow.voucher_counts.voucher_changes_after(at):
                group = found if not isinstance(found, Gone) else _group_of(found, batches)
                if group is not None:
                    counts.rewind(group, before, after, n)
            for batch_id, _operation, details in uow.voucher_counts.batch_changes_after(at):
                key = (batches[batch_id][0], batch_id)
                operation = Operation(details["voucher_operation"])
                for state, n in _moved(details).items():
                    counts.rewind(key, state, bulk_target(operation, state), n)
            counts.drop((b[0], bid) for bid, b in batches.items() if b[1] > at)
        types = uow.voucher_types.every()
    by_line: dict[tuple[str | None, str], dict[str, int]] = {}
    for (type_key, batch_key), row in counts.by_group.items():
        shown = str(type_key) if group_by is StatusGrouping.TYPE else _text(batch_key)
        line = by_line.setdefault((shown, str(type_key)), dict.fromkeys(STATES, 0))
        for state, n in row.items():
            line[state] += n
    lines = [
        StatusLine(group, type_id, types[uuid.UUID(type_id)].spec.name, row)
        for (group, type_id), row in by_line.items()
        if any(row.values())
    ]
    lines.sort(key=lambda ln: (ln.name, ln.group or ""))
    totals = {state: sum(ln.counts[state] for ln in lines) for state in STATES}
    return StatusReport(at, group_by, lines, totals)


def _group_of(
    gone: Gone, batches: dict[uuid.UUID, tuple[uuid.UUID, datetime, int, int]]
) -> GroupKey | None:
    """A purged voucher's group: the batch whose serials hold it, else its type alone."""
    for batch_id, (type_id, _made, first, last) in batches.items():
        if first <= gone.serial <= last:
            return (type_id, batch_id)
    return None if gone.voucher_type_id is None else (gone.voucher_type_id, None)


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _moved(details: dict[str, object]) -> dict[str, int]:
    """How many moved from each state; a record older than that split names one source."""
    moved = details.get("moved")
    if isinstance(moved, dict):
        return {str(k): int(v) for k, v in moved.items()}
    starts = details.get("voucher_statuses_from")
    count = details.get("count")
    if isinstance(starts, list) and starts and isinstance(count, int):
        return {str(starts[0]): count}
    return {}
