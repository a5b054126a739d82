"""Reading and exporting EDRs."""

from __future__ import annotations

from collections.abc import Iterator

from tessera.adapters.db.repositories.edrs import EdrFilter
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import Edr
from tessera.domain.paging import Page


def list_edrs(uow: UnitOfWork, f: EdrFilter, cursor: str | None, limit: int) -> Page[Edr]:
    with uow:
        return uow.edrs.list(f, cursor, limit)


def export_edrs(uow: UnitOfWork, f: EdrFilter) -> Iterator[Edr]:
    """Streams every matching EDR, a chunk at a time, inside one read transaction."""
    with uow:
        yield from uow.edrs.stream(f)
