"""Partner settlement statements per period, and the period close.

A period is closed by finance up to an instant: its statement takes every partner-funded
reward granted before then and every reversal before then of a reward a statement already
took, and is written once; it never changes. What no closed statement took (a reward or a
reversal that comes later, of whatever period) lands on the open statement, which the next
close takes: a reversal after its reward's period closed lands on the next open one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tessera.adapters.db.repositories.settlement import SettlementPeriod
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Invalid


@dataclass(frozen=True, slots=True)
class Statement:
    seq: int | None  # None: the open period
    starts_at: datetime | None  # None: from the beginning
    ends_at: datetime | None  # None: open, up to now
    closed_at: datetime | None
    lines: list[dict[str, Any]]


def _partners_seen(uow: UnitOfWork) -> set[str] | None:
    """The partners a key bound to lists (a partner's) may see; None: every partner."""
    if uow.bound_lists is None:
        return None
    return {
        found.spec.partner
        for found in (uow.lists.get(list_id) for list_id in uow.bound_lists)
        if found is not None
    }


def _shown(
    lines: list[dict[str, Any]], partner: str | None, seen: set[str] | None
) -> list[dict[str, Any]]:
    return [
        {**ln, "net_minor": ln["amount_minor"] - ln["reversed_minor"]}
        for ln in lines
        if (partner is None or ln["partner"] == partner) and (seen is None or ln["partner"] in seen)
    ]


def statements(
    uow: UnitOfWork, since: datetime, until: datetime, partner: str | None = None
) -> list[Statement]:
    """The statements of the periods that overlap ``[since, until)``, closed ones as they
    were written, then the open one (from the last close to now)."""
    if until <= since:
        raise Invalid("until", "must be after since")
    with uow:
        seen = _partners_seen(uow)
        periods = [
            p
            for p in uow.settlement.periods()
            if p.ends_at > since and (p.starts_at is None or p.starts_at < until)
        ]
        closed = uow.settlement.closed_lines([p.seq for p in periods])
        out = [
            Statement(
                p.seq,
                p.starts_at,
                p.ends_at,
                p.closed_at,
                _shown(closed.get(p.seq, []), partner, seen),
            )
            for p in periods
        ]
        last = uow.settlement.last()
        open_from = None if last is None else last.ends_at
        if open_from is None or open_from < until:
            out.append(
                Statement(
                    None, open_from, None, None, _shown(uow.settlement.open_lines(), partner, seen)
                )
            )
    return out


def close_period(uow: UnitOfWork, until: datetime) -> Statement:
    """Closes the open period up to ``until`` (after the last close, not after now): its
    statement is written once and never changes."""
    with uow:
        now = uow.clock()
        if until > now:
            raise Invalid("until", "is in the future: only a period that has ended can be closed")
        last = uow.settlement.last()
        if last is not None and until <= last.ends_at:
            raise Invalid(
                "until",
                f"must be after the end of the last closed period ({last.ends_at.isoformat()})",
            )
        period = SettlementPeriod(
            seq=1 if last is None else last.seq + 1,
            starts_at=None if last is None else last.ends_at,
            ends_at=until,
            closed_at=now,
            closed_by=uow.actor_key_id,
        )
        lines = uow.settlement.close(period)
        uow.edrs.append(
            EdrDraft(
                "settlement.close",
                "settlement_period",
                str(period.seq),
                status_before="open",
                status_after="closed",
                details={
                    "starts_at": None if period.starts_at is None else period.starts_at.isoformat(),
                    "ends_at": until.isoformat(),
                    "lines": lines,
                },
            ),
            now,
        )
        uow.commit()
    return Statement(period.seq, period.starts_at, until, now, _shown(lines, None, None))
