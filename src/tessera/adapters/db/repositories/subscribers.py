"""Subscribers and their buckets. Balances move only through conditional updates, so a
debit can never take a bucket below zero, whatever runs concurrently."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.ids import new_id
from tessera.domain.paging import Page
from tessera.domain.wallet import Bucket, BucketGrant, ServiceState, Subscriber


def _subscriber(row: sa.RowMapping) -> Subscriber:
    return Subscriber(
        id=row["id"],
        external_id=row["external_id"],
        attributes=row["attributes"],
        service_state=ServiceState(row["service_state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _bucket(row: sa.RowMapping) -> Bucket:
    return Bucket(
        id=row["id"],
        balance_type=row["balance_type"],
        amount=row["amount"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


# One index probe per subscriber (a lateral subquery the planner keeps apart: OFFSET 0).
PROFILES_SQL = """
SELECT coalesce(json_agg(json_build_array(p.external_id, p.attributes, p.service_state)), '[]')
FROM json_array_elements_text(%(ids)s::json) AS wanted(external_id)
CROSS JOIN LATERAL (
    SELECT s.external_id, s.attributes, s.service_state FROM subscribers s
    WHERE s.tenant_id = %(tenant_id)s AND s.external_id = wanted.external_id
    OFFSET 0
) AS p
"""


def profile_rows(rows: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """(external id, attributes, service state) rows as condition profiles."""
    return {
        external_id: {**attributes, "external_id": external_id, "service_state": state}
        for external_id, attributes, state in rows
    }


class SubscriberRepository(TenantScoped):
    table = t.subscribers

    def by_external_id(self, external_id: str, *, for_update: bool = False) -> Subscriber | None:
        stmt = self._select().where(self.table.c.external_id == external_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _subscriber(row)

    def many(self, external_ids: set[str]) -> list[Subscriber]:
        if not external_ids:
            return []
        stmt = self._select().where(self._in(self.table.c.external_id, sorted(external_ids)))
        return [_subscriber(row) for row in self.conn.execute(stmt).mappings()]

    def profiles(self, external_ids: set[str]) -> dict[str, dict[str, Any]]:
        """What ``subscriber`` means in a condition, by external id: the profile attributes,
        flat, plus ``external_id`` and ``service_state``. On PostgreSQL the rows come as one
        JSON document: one value to parse instead of a row and a JSON per subscriber."""
        if not external_ids:
            return {}
        if self.conn.dialect.name == "postgresql":
            rows = self.conn.exec_driver_sql(
                PROFILES_SQL,
                {"tenant_id": self.tenant_id, "ids": json.dumps(sorted(external_ids))},
            ).scalar_one()
            return profile_rows(rows)
        return {
            s.external_id: {
                **s.attributes,
                "external_id": s.external_id,
                "service_state": s.service_state.value,
            }
            for s in self.many(external_ids)
        }

    def ensure_many(
        self, external_ids: set[str], now: datetime
    ) -> tuple[dict[str, uuid.UUID], set[str]]:
        """Ids by external id, creating (with an empty profile) those not yet known; also
        returns the external ids it created."""
        dialect: Any = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        ordered = sorted(external_ids)  # one lock order for concurrent batches
        stmt = (
            dialect.insert(self.table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "external_id"])
            .returning(self.table.c.external_id)
        )
        created = self.conn.execute(
            stmt,
            [
                {
                    "id": new_id(),
                    "tenant_id": self.tenant_id,
                    "external_id": external_id,
                    "attributes": {},
                    "service_state": ServiceState.ACTIVE.value,
                    "created_at": now,
                    "updated_at": now,
                }
                for external_id in ordered
            ],
        ).scalars()
        made = set(created)
        c = self.table.c
        rows = self.conn.execute(
            self._select(c.external_id, c.id).where(self._in(c.external_id, ordered))
        )
        return {row.external_id: row.id for row in rows}, made

    def terminated(self, external_ids: set[str]) -> set[str]:
        """Which of these subscribers are terminated (they are rewarded nothing)."""
        if not external_ids:
            return set()
        c = self.table.c
        stmt = self._select(c.external_id).where(
            self._in(c.external_id, sorted(external_ids)),
            c.service_state == ServiceState.TERMINATED.value,
        )
        return set(self.conn.execute(stmt).scalars())

    def set_states(self, states: dict[str, str], now: datetime) -> None:
        """Each subscriber's service state, created if new (a state event may come first)."""
        for external_id, state in sorted(states.items()):
            self.upsert(external_id, None, ServiceState(state), now, new_id())

    def get(self, subscriber_id: uuid.UUID) -> Subscriber | None:
        row = (
            self.conn.execute(self._select().where(self.table.c.id == subscriber_id))
            .mappings()
            .first()
        )
        return None if row is None else _subscriber(row)

    def upsert(
        self,
        external_id: str,
        attributes: dict[str, Any] | None,
        service_state: ServiceState | None,
        now: datetime,
        new_id: uuid.UUID,
    ) -> tuple[Subscriber, bool]:
        """Insert, or update the given fields; the unique (tenant, external id) settles races."""
        dialect = self.conn.dialect.name
        insert_module: Any
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql as insert_module
        else:
            from sqlalchemy.dialects import sqlite as insert_module
        changes: dict[str, Any] = {"updated_at": now}
        if attributes is not None:
            changes["attributes"] = attributes
        if service_state is not None:
            changes["service_state"] = service_state.value
        stmt = insert_module.insert(self.table).values(
            id=new_id,
            tenant_id=self.tenant_id,
            external_id=external_id,
            attributes=attributes or {},
            service_state=(service_state or ServiceState.ACTIVE).value,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "external_id"], set_=changes
        ).returning(*self.table.c)
        row = self.conn.execute(stmt).mappings().one()
        subscriber = _subscriber(row)
        return subscriber, subscriber.id == new_id

    def list(self, cursor: str | None, limit: int) -> Page[Subscriber]:
        return self._page(self._select(), self.table.c.id, cursor, limit, _subscriber)


class BucketRepository(TenantScoped):
    table = t.buckets

    def of(self, subscriber_id: uuid.UUID) -> list[Bucket]:
        stmt = (
            self._select()
            .where(self.table.c.subscriber_id == subscriber_id, self.table.c.amount > 0)
            .order_by(self.table.c.balance_type, self.table.c.expires_at, self.table.c.id)
        )
        return [_bucket(row) for row in self.conn.execute(stmt).mappings()]

    def add(
        self,
        subscriber_id: uuid.UUID,
        balance_type: str,
        amount: int,
        expires_at: datetime | None,
        now: datetime,
    ) -> int:
        stmt = self._insert(
            subscriber_id=subscriber_id,
            balance_type=balance_type,
            amount=amount,
            expires_at=expires_at,
            created_at=now,
        ).returning(self.table.c.id)
        return int(self.conn.execute(stmt).scalar_one())

    def usable_totals(self, external_ids: set[str], now: datetime) -> dict[str, dict[str, int]]:
        """What ``wallet`` means in a condition, by external id: the usable balance per
        balance type (unexpired, not empty), as ``Wallet.totals`` counts it."""
        if not external_ids:
            return {}
        b, s = self.table.c, t.subscribers.c
        stmt = (
            sa.select(s.external_id, b.balance_type, sa.func.sum(b.amount))
            .select_from(self.table.join(t.subscribers, s.id == b.subscriber_id))
            .where(
                self._mine(),
                self._mine(t.subscribers),
                self._in(s.external_id, sorted(external_ids)),
                b.amount > 0,
                sa.or_(b.expires_at.is_(None), b.expires_at > now),
            )
            .group_by(s.external_id, b.balance_type)
        )
        totals: dict[str, dict[str, int]] = {}
        for external_id, balance_type, amount in self.conn.execute(stmt):
            totals.setdefault(external_id, {})[balance_type] = int(amount)
        return totals

    def spendable(self, subscriber_id: uuid.UUID, balance_type: str, now: datetime) -> list[Bucket]:
        """Unexpired buckets of one type, soonest expiry first, locked until commit."""
        c = self.table.c
        stmt = (
            self._select()
            .where(
                c.subscriber_id == subscriber_id,
                c.balance_type == balance_type,
                c.amount > 0,
                sa.or_(c.expires_at.is_(None), c.expires_at > now),
            )
            .order_by(c.expires_at.is_(None), c.expires_at, c.id)
            .with_for_update()
        )
        return [_bucket(row) for row in self.conn.execute(stmt).mappings()]

    def add_many(
        self, rows: list[tuple[uuid.UUID, str | None, int | None, datetime | None]], now: datetime
    ) -> list[int]:
        """Inserts (subscriber id, balance type, amount, expiry) rows; ids in the same order."""
        stmt = sa.insert(self.table).returning(self.table.c.id, sort_by_parameter_order=True)
        params = [
            {
                "tenant_id": self.tenant_id,
                "subscriber_id": subscriber_id,
                "balance_type": balance_type,
                "amount": amount,
                "expires_at": expires_at,
                "created_at": now,
            }
            for subscriber_id, balance_type, amount, expires_at in rows
        ]
        return [int(i) for i in self.conn.execute(stmt, params).scalars()]

    def allocate_ids(self, count: int) -> list[int]:
        """Ids for ``count`` new buckets, drawn before they are written (a decided use names
        them in its EDRs). PostgreSQL draws from the sequence; SQLite, whose writers take
        turns (BEGIN IMMEDIATE), continues after the largest id."""
        if count == 0:
            return []
        if self.conn.dialect.name == "postgresql":
            drawn = self.conn.execute(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence('buckets', 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"count": count},
            )
            return [int(i) for i in drawn.scalars()]
        largest = self.conn.execute(sa.select(sa.func.max(self.table.c.id))).scalar()
        start = int(largest or 0) + 1
        return list(range(start, start + count))

    def add_granted(
        self, subscriber_id: uuid.UUID, grants: Sequence[BucketGrant], now: datetime
    ) -> None:
        """The buckets a decided use credits, with the ids it drew."""
        if not grants:
            return
        rows = [
            {
                "id": g.bucket_id,
                "tenant_id": self.tenant_id,
                "subscriber_id": subscriber_id,
                "balance_type": g.balance_type,
                "amount": g.amount,
                "expires_at": g.expires_at,
                "created_at": now,
            }
            for g in grants
        ]
        self.conn.execute(sa.insert(self.table), rows)

    def take(self, bucket_id: int, amount: int) -> bool:
        """Take ``amount`` from one bucket only if it holds that much (compare-and-set)."""
        c = self.table.c
        result = self.conn.execute(
            self._update(c.id == bucket_id, c.amount >= amount).values(amount=c.amount - amount)
        )
        return result.rowcount == 1
