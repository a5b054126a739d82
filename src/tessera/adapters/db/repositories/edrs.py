"""EDRs: append and read, nothing else. The tables also refuse UPDATE and DELETE (triggers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.edr import Edr, EdrDraft, subscriber_of
from tessera.domain.paging import Page


@dataclass(frozen=True, slots=True)
class EdrFilter:
    operation: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _edr(row: sa.RowMapping) -> Edr:
    return Edr(
        id=row["id"],
        tenant_id=row["tenant_id"],
        occurred_at=row["occurred_at"],
        actor_key_id=row["actor_key_id"],
        operation=row["operation"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        status_before=row["status_before"],
        status_after=row["status_after"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        details=row["details"],
    )


def draft_columns(draft: EdrDraft) -> dict[str, Any]:
    """The columns a use case fills; the data layer adds tenant, time, actor and id."""
    return {
        "operation": draft.operation,
        "subject_type": draft.subject_type,
        "subject_id": draft.subject_id,
        "status_before": draft.status_before,
        "status_after": draft.status_after,
        "amount_minor": draft.amount_minor,
        "currency": draft.currency,
        "details": draft.details,
        "subscriber": subscriber_of(draft),
    }


class EdrRepository(TenantScoped):
    table = t.edrs

    def __init__(
        self, connection: sa.Connection, tenant_id: uuid.UUID, actor_key_id: uuid.UUID | None
    ) -> None:
        super().__init__(connection, tenant_id)
        self.actor_key_id = actor_key_id

    def append(self, draft: EdrDraft, at: datetime) -> None:
        self.append_many([draft], at)

    def append_many(self, drafts: list[EdrDraft], at: datetime) -> None:
        if not drafts:
            return
        self.conn.execute(
            sa.insert(self.table),
            [
                {
                    "tenant_id": self.tenant_id,
                    "occurred_at": at,
                    "actor_key_id": self.actor_key_id,
                    **draft_columns(d),
                }
                for d in drafts
            ],
        )

    def append_for_issuer(self, issuer_id: uuid.UUID, drafts: list[EdrDraft], at: datetime) -> None:
        """The issuer's side of a marketplace use, in the issuer's own records (only a tenant
        sharing a type with this one receives any: base._insert_for_sharer)."""
        for draft in drafts:
            self._insert_for_sharer(
                self.table, issuer_id, occurred_at=at, actor_key_id=None, **draft_columns(draft)
            )

    def latest(self, subject_type: str, subject_id: str, operations: list[str]) -> Edr | None:
        """The newest EDR of one subject among ``operations`` (e.g. the redemption to undo)."""
        c = self.table.c
        stmt = (
            self._select()
            .where(
                c.subject_type == subject_type,
                c.subject_id == subject_id,
                c.operation.in_(operations),
            )
            .order_by(c.id.desc())
            .limit(1)
        )
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _edr(row)

    def of_subject(self, subject_type: str, subject_id: str, operations: list[str]) -> list[Edr]:
        """Every EDR of one subject among ``operations``, oldest first (a stored value's uses
        and their reversals: a handful per voucher)."""
        c = self.table.c
        stmt = (
            self._select()
            .where(
                c.subject_type == subject_type,
                c.subject_id == subject_id,
                c.operation.in_(operations),
            )
            .order_by(c.id)
        )
        return [_edr(row) for row in self.conn.execute(stmt).mappings()]

    def between(self, after_id: int, last_id: int, limit: int) -> list[Edr]:
        """This tenant's EDRs with ``after_id < id <= last_id``, the first ``limit`` by id."""
        c = self.table.c
        stmt = self._select().where(c.id > after_id, c.id <= last_id).order_by(c.id).limit(limit)
        return [_edr(row) for row in self.conn.execute(stmt).mappings()]

    def stream_between(self, after_id: int, last_id: int, chunk: int = 5000) -> Iterator[Edr]:
        while True:
            edrs = self.between(after_id, last_id, chunk)
            yield from edrs
            if len(edrs) < chunk:
                return
            after_id = edrs[-1].id

    def count_after(self, after_id: int) -> int:
        c = self.table.c
        stmt = self._select(sa.func.count()).where(c.id > after_id)
        return int(self.conn.execute(stmt).scalar_one())

    def _filtered(self, f: EdrFilter) -> sa.Select[tuple[object]]:
        c = self.table.c
        stmt = self._select()
        if f.operation is not None:
            stmt = stmt.where(c.operation == f.operation)
        if f.subject_type is not None:
            stmt = stmt.where(c.subject_type == f.subject_type)
        if f.subject_id is not None:
            stmt = stmt.where(c.subject_id == f.subject_id)
        if f.since is not None:
            stmt = stmt.where(c.occurred_at >= f.since)
        if f.until is not None:
            stmt = stmt.where(c.occurred_at < f.until)
        return stmt

    def list(self, f: EdrFilter, cursor: str | None, limit: int) -> Page[Edr]:
        return self._page(self._filtered(f), self.table.c.id, cursor, limit, _edr, parse_key=int)

    def stream(self, f: EdrFilter, chunk: int = 5000) -> Iterator[Edr]:
        """Every matching EDR in id order, read a chunk at a time (constant memory)."""
        cursor: str | None = None
        while True:
            page = self.list(f, cursor, chunk)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
