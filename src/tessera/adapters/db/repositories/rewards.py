"""Events, aggregates, campaigns, cap counters and rewards."""

from __future__ import annotations

import builtins
import dataclasses
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.adapters.db.repositories.subscribers import (
    PROFILES_SQL,
    SubscriberRepository,
    profile_rows,
)
from tessera.domain.aggregates import AggregateDefinition, Function, Window
from tessera.domain.campaigns import (
    Campaign,
    CampaignFigures,
    CampaignSpec,
    CampaignStatus,
    CapPeriod,
    Caps,
    ConditionFailures,
    FailureCount,
    RewardSpec,
)
from tessera.domain.events import Event
from tessera.domain.paging import Page


def _dialect(conn: sa.Connection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


# Hot-path statements for PostgreSQL, written once in the driver's own parameter style: a
# statement built per call through SQLAlchemy costs more CPU than the server spends on it.
_INSERT_EVENTS = """
INSERT INTO events (tenant_id, event_id, subscriber, type, occurred_at, received_at, attributes)
SELECT %(tenant_id)s, e.id, e.subscriber, e.type, e.occurred_at, %(received_at)s, e.attributes
FROM json_to_recordset(%(batch)s::json)
     AS e(id text, subscriber text, type text, occurred_at timestamptz, attributes jsonb)
ON CONFLICT (tenant_id, event_id) DO NOTHING
RETURNING event_id
"""
# A lateral subquery (kept apart by OFFSET 0) so that each subscriber is one index probe:
# the planner cannot see into the JSON list and would otherwise scan the whole table.
_AGGREGATE_VALUES = """
SELECT coalesce(json_agg(json_build_array(v.subscriber, v.name, v.bucket, v.value)), '[]')
FROM json_array_elements_text(%(subscribers)s::json) AS s(subscriber)
CROSS JOIN LATERAL (
    SELECT a.subscriber, a.name, a.bucket, a.value FROM aggregate_values a
    WHERE a.tenant_id = %(tenant_id)s AND a.subscriber = s.subscriber
      AND a.name = ANY(%(names)s) AND a.bucket = ANY(%(buckets)s)
    OFFSET 0
) AS v
"""
_APPLY_AGGREGATES = """
INSERT INTO aggregate_values (tenant_id, subscriber, name, bucket, value)
SELECT %(tenant_id)s, r.s, r.n, r.b, r.v
FROM json_to_recordset(%(rows)s::json) AS r(s text, n text, b text, v float8)
ON CONFLICT (tenant_id, subscriber, name, bucket) DO UPDATE SET value = CASE
    WHEN excluded.name = ANY(%(mins)s) THEN LEAST(aggregate_values.value, excluded.value)
    WHEN excluded.name = ANY(%(maxes)s) THEN GREATEST(aggregate_values.value, excluded.value)
    ELSE aggregate_values.value + excluded.value END
"""
# What a batch needs before it can evaluate, in one round trip: the new event ids (the
# insert), the aggregate definitions, the active campaigns' (id, version) and the campaigns
# whose condition failed in a row (a partial index holds only those: usually none).
_CONTEXT_COLUMNS = """
    (SELECT coalesce(json_agg(json_build_array(d.name, d.event_type, d.function, d."window",
                                               d.attribute, d.days) ORDER BY d.name), '[]')
     FROM aggregate_definitions d WHERE d.tenant_id = %(tenant_id)s),
    (SELECT coalesce(json_agg(json_build_array(c.id, c.version)), '[]')
     FROM campaigns c WHERE c.tenant_id = %(tenant_id)s AND c.status = 'active'),
    (SELECT coalesce(json_agg(f.campaign_id), '[]')
     FROM campaign_condition_failures f WHERE f.tenant_id = %(tenant_id)s AND f.streak > 0)
"""
_BATCH_CONTEXT = "SELECT " + _CONTEXT_COLUMNS
_START_BATCH = (  # constant fragments of this module, never input
    "WITH inserted AS ("  # noqa: S608
    + _INSERT_EVENTS
    + ") SELECT (SELECT coalesce(json_agg(event_id), '[]') FROM inserted),"
    + _CONTEXT_COLUMNS
)
# The profiles and the stored aggregate values of the batch's subscribers, in one round trip.
_LOOKUPS = "SELECT (" + PROFILES_SQL.strip() + "), (" + _AGGREGATE_VALUES.strip() + ")"
_ACTIVE_VERSIONS = """
SELECT id, version FROM campaigns WHERE tenant_id = %(tenant_id)s AND status = 'active'
"""


def _events_json(events: list[Event]) -> str:
    return json.dumps(
        [
            {
                "id": e.id,
                "subscriber": e.subscriber,
                "type": e.type,
                "occurred_at": e.occurred_at.isoformat(),
                "attributes": e.attributes,
            }
            for e in events
        ]
    )


class EventRepository(TenantScoped):
    table = t.events

    def insert_new(self, events: list[Event], received_at: datetime) -> set[str]:
        """Stores the events whose id is new for this tenant; returns those ids. The unique
        (tenant, event id) index settles duplicates, including concurrent ones."""
        if not events:
            return set()
        if self.conn.dialect.name == "postgresql":
            return self._insert_new_postgres(events, received_at)
        stmt = (
            sqlite.insert(self.table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "event_id"])
            .returning(self.table.c.event_id)
        )
        rows = [
            {
                "tenant_id": self.tenant_id,
                "event_id": e.id,
                "subscriber": e.subscriber,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "received_at": received_at,
                "attributes": e.attributes,
            }
            for e in events
        ]
        return set(self.conn.execute(stmt, rows).scalars())

    def _insert_new_postgres(self, events: list[Event], received_at: datetime) -> set[str]:
        """One statement, the batch as one JSON parameter that the server unpacks: psycopg
        dumps arrays element by element in Python, json.dumps is one C call."""
        batch = _events_json(events)
        rows = self.conn.exec_driver_sql(
            _INSERT_EVENTS,
            {"tenant_id": self.tenant_id, "received_at": received_at, "batch": batch},
        )
        return {row[0] for row in rows}

    def between(self, since: datetime, until: datetime, chunk: int = 2000) -> Iterator[Event]:
        c = self.table.c
        last = 0
        while True:
            stmt = (
                self._select()
                .where(c.occurred_at >= since, c.occurred_at < until, c.id > last)
                .order_by(c.id)
                .limit(chunk)
            )
            rows = self.conn.execute(stmt).mappings().all()
            for row in rows:
                yield Event(
                    row["event_id"],
                    row["subscriber"],
                    row["type"],
                    row["occurred_at"],
                    row["attributes"],
                )
            if len(rows) < chunk:
                return
            last = rows[-1]["id"]


def _definition(row: sa.RowMapping) -> AggregateDefinition:
    return AggregateDefinition(
        name=row["name"],
        event_type=row["event_type"],
        function=Function(row["function"]),
        window=Window(row["window"]),
        attribute=row["attribute"],
        days=row["days"],
    )


class AggregateRepository(TenantScoped):
    table = t.aggregate_definitions

    def add_definition(self, definition: AggregateDefinition, now: datetime) -> None:
        self.conn.execute(
            self._insert(
                id=uuid.uuid4(),
                name=definition.name,
                event_type=definition.event_type,
                function=definition.function.value,
                window=definition.window.value,
                attribute=definition.attribute,
                days=definition.days,
                created_at=now,
            )
        )

    def definitions(self) -> list[AggregateDefinition]:
        rows = self.conn.execute(self._select().order_by(self.table.c.name)).mappings()
        return [_definition(row) for row in rows]

    def name_taken(self, name: str) -> bool:
        stmt = self._select(self.table.c.id).where(self.table.c.name == name)
        return self.conn.execute(stmt).first() is not None

    def values(
        self, subscribers: Iterable[str], names: Iterable[str], buckets: Iterable[str]
    ) -> dict[tuple[str, str, str], float]:
        if self.conn.dialect.name == "postgresql":
            found = self.conn.exec_driver_sql(
                _AGGREGATE_VALUES,
                {
                    "tenant_id": self.tenant_id,
                    "subscribers": json.dumps(sorted(subscribers)),
                    "names": sorted(names),
                    "buckets": sorted(buckets),
                },
            ).scalar_one()
            return {(s, n, b): float(x) for s, n, b, x in found}
        v = t.aggregate_values
        stmt = sa.select(v.c.subscriber, v.c.name, v.c.bucket, v.c.value).where(
            self._mine(v),
            self._in(v.c.subscriber, sorted(subscribers)),
            self._in(v.c.name, sorted(names)),
            self._in(v.c.bucket, sorted(buckets)),
        )
        return {(r.subscriber, r.name, r.bucket): r.value for r in self.conn.execute(stmt)}

    def apply(self, changes: dict[tuple[str, str, str], tuple[Function, float]]) -> None:
        """Folds (subscriber, name, bucket) -> (function, what this batch adds) into the stored
        buckets with one atomic upsert, in key order (concurrent batches queue, never lose an
        update, never deadlock)."""
        if not changes:
            return
        ordered = sorted(changes)
        if self.conn.dialect.name == "postgresql":
            names: dict[Function, set[str]] = {Function.MIN: set(), Function.MAX: set()}
            rows = []
            for key in ordered:
                function, value = changes[key]
                if function in names:
                    names[function].add(key[1])
                rows.append({"s": key[0], "n": key[1], "b": key[2], "v": float(value)})
            self.conn.exec_driver_sql(
                _APPLY_AGGREGATES,
                {
                    "tenant_id": self.tenant_id,
                    "rows": json.dumps(rows),
                    "mins": sorted(names[Function.MIN]),
                    "maxes": sorted(names[Function.MAX]),
                },
            )
            return
        v = t.aggregate_values
        for function in Function:
            keys = [k for k in ordered if changes[k][0] is function]
            if not keys:
                continue
            stmt = sqlite.insert(v)
            fold = {
                Function.SUM: v.c.value + stmt.excluded.value,
                Function.COUNT: v.c.value + stmt.excluded.value,
                Function.MIN: sa.func.min(v.c.value, stmt.excluded.value),
                Function.MAX: sa.func.max(v.c.value, stmt.excluded.value),
            }[function]
            stmt = stmt.on_conflict_do_update(
                index_elements=["tenant_id", "subscriber", "name", "bucket"], set_={"value": fold}
            )
            self.conn.execute(
                stmt,
                [
                    {
                        "tenant_id": self.tenant_id,
                        "subscriber": s,
                        "name": n,
                        "bucket": b,
                        "value": changes[(s, n, b)][1],
                    }
                    for (s, n, b) in keys
                ],
            )


def _campaign(row: sa.RowMapping) -> Campaign:
    caps = row["caps"]
    return Campaign(
        id=row["id"],
        version=row["version"],
        spec=CampaignSpec(
            name=row["name"],
            trigger_types=tuple(row["trigger_types"]),
            condition=row["condition"],
            rewards=tuple(RewardSpec.from_json(r) for r in row["rewards"]),
            status=CampaignStatus(row["status"]),
            priority=row["priority"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            caps=Caps(
                per_subscriber=caps.get("per_subscriber"),
                per_subscriber_period=CapPeriod(caps.get("per_subscriber_period", "campaign")),
                total_rewards=caps.get("total_rewards"),
                total_budget_minor=caps.get("total_budget_minor"),
            ),
            currency=row["currency"],
            funding_partner=row["funding_partner"],
            cost_per_reward_minor=row["cost_per_reward_minor"],
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _spec_columns(spec: CampaignSpec) -> dict[str, Any]:
    caps = spec.caps
    return {
        "name": spec.name,
        "status": spec.status.value,
        "priority": spec.priority,
        "trigger_types": list(spec.trigger_types),
        "condition": spec.condition,
        "rewards": [r.to_json() for r in spec.rewards],
        "caps": {
            "per_subscriber": caps.per_subscriber,
            "per_subscriber_period": caps.per_subscriber_period.value,
            "total_rewards": caps.total_rewards,
            "total_budget_minor": caps.total_budget_minor,
        },
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "currency": spec.currency,
        "funding_partner": spec.funding_partner,
        "cost_per_reward_minor": spec.cost_per_reward_minor,
    }


class CampaignRepository(TenantScoped):
    table = t.campaigns

    def add(self, campaign: Campaign) -> None:
        self.conn.execute(
            self._insert(
                id=campaign.id,
                version=campaign.version,
                rewards_issued=0,
                budget_spent_minor=0,
                created_at=campaign.created_at,
                updated_at=campaign.updated_at,
                **_spec_columns(campaign.spec),
            )
        )

    def update(self, campaign: Campaign) -> bool:
        """Writes the next version only over the one it was read at (compare-and-set), so
        two concurrent edits cannot both become the same version."""
        c = self.table.c
        result = self.conn.execute(
            self._update(c.id == campaign.id, c.version == campaign.version - 1).values(
                version=campaign.version,
                updated_at=campaign.updated_at,
                **_spec_columns(campaign.spec),
            )
        )
        return result.rowcount == 1

    def get(self, campaign_id: uuid.UUID) -> Campaign | None:
        row = (
            self.conn.execute(self._select().where(self.table.c.id == campaign_id))
            .mappings()
            .first()
        )
        return None if row is None else _campaign(row)

    def name_taken(self, name: str, except_id: uuid.UUID | None = None) -> bool:
        stmt = self._select(self.table.c.id).where(self.table.c.name == name)
        if except_id is not None:
            stmt = stmt.where(self.table.c.id != except_id)
        return self.conn.execute(stmt).first() is not None

    def list(self, cursor: str | None, limit: int) -> Page[Campaign]:
        return self._page(self._select(), self.table.c.id, cursor, limit, _campaign)

    def mapped_to_list(self, list_id: uuid.UUID) -> builtins.list[Campaign]:
        """Campaigns that give codes from this list. A tenant has tens of campaigns, not
        millions, so they are filtered here rather than through a mapping table."""
        rows = self.conn.execute(self._select().order_by(self.table.c.id)).mappings()
        found = (_campaign(row) for row in rows)
        return [c for c in found if any(list_id in r.list_ids for r in c.spec.rewards)]

    def active(self) -> builtins.list[Campaign]:
        stmt = self._select().where(self.table.c.status == CampaignStatus.ACTIVE.value)
        return [_campaign(row) for row in self.conn.execute(stmt).mappings()]

    def active_versions(self) -> builtins.list[tuple[str, int]]:
        """(id, version) of the active campaigns: cheap enough to ask on every batch, so a
        process can keep the campaigns themselves and reread only those that changed."""
        if self.conn.dialect.name == "postgresql":
            rows = self.conn.exec_driver_sql(_ACTIVE_VERSIONS, {"tenant_id": self.tenant_id})
            return [(str(row[0]), row[1]) for row in rows]
        c = self.table.c
        stmt = self._select(c.id, c.version).where(c.status == CampaignStatus.ACTIVE.value)
        return [(str(row.id), row.version) for row in self.conn.execute(stmt)]

    def many(self, ids: builtins.list[uuid.UUID]) -> builtins.list[Campaign]:
        if not ids:
            return []
        stmt = self._select().where(self._in(self.table.c.id, ids))
        return [_campaign(row) for row in self.conn.execute(stmt).mappings()]

    def figures(self, ids: builtins.list[uuid.UUID]) -> dict[uuid.UUID, CampaignFigures]:
        """Per campaign: events rewarded (not reversed) and what they cost, counted from the
        rewards in one grouped query; a campaign with none has zero figures."""
        found = {campaign_id: CampaignFigures() for campaign_id in ids}
        if not ids:
            return found
        r = t.rewards
        rows = self.conn.execute(
            sa.select(
                r.c.campaign_id,
                sa.func.count(sa.distinct(r.c.event_id)),
                sa.func.coalesce(sa.func.sum(r.c.cost_minor), 0),
            )
            .where(self._mine(r), self._in(r.c.campaign_id, ids), r.c.status == "granted")
            .group_by(r.c.campaign_id)
        )
        for campaign_id, issued, spent in rows:
            found[campaign_id] = CampaignFigures(int(issued), int(spent))
        f = t.campaign_condition_failures
        failed = self.conn.execute(
            sa.select(f.c.campaign_id, f.c.count, f.c.last_message, f.c.last_at, f.c.streak).where(
                self._mine(f), self._in(f.c.campaign_id, ids), f.c.count > 0
            )
        )
        for campaign_id, count, message, at, streak in failed:
            found[campaign_id] = dataclasses.replace(
                found[campaign_id],
                failures=ConditionFailures(int(count), message, at, int(streak)),
            )
        return found

    def streaking(self) -> set[str]:
        """Ids of the campaigns whose condition failed in a row (a non-zero streak)."""
        f = t.campaign_condition_failures
        stmt = sa.select(f.c.campaign_id).where(self._mine(f), f.c.streak > 0)
        return {str(campaign_id) for campaign_id in self.conn.execute(stmt).scalars()}

    def count_failures(
        self, changes: dict[uuid.UUID, FailureCount], at: datetime
    ) -> dict[uuid.UUID, int]:
        """Adds each campaign's condition failures to its count, keeping the last message, and
        moves its streak (failures in a row): a batch that evaluated the campaign well at
        least once sets it to the failures after that (``reset``), else adds its failures.
        One statement (an upsert adding to the stored values, so concurrent batches never
        lose one), in campaign order: batches lock these rows last and in one order. Returns
        each campaign's streak as it now stands."""
        if not changes:
            return {}
        f = t.campaign_condition_failures
        stmt = _dialect(self.conn).insert(f)
        failed = stmt.excluded.count > 0
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id"],
            set_={
                "count": f.c.count + stmt.excluded.count,
                "last_message": sa.case(
                    (failed, stmt.excluded.last_message), else_=f.c.last_message
                ),
                "last_at": sa.case((failed, stmt.excluded.last_at), else_=f.c.last_at),
                "streak": sa.case(
                    (sa.bindparam("reset", type_=sa.Boolean), stmt.excluded.streak),
                    else_=f.c.streak + stmt.excluded.streak,
                ),
            },
        ).returning(f.c.campaign_id, f.c.streak)
        rows = self.conn.execute(
            stmt,
            [
                {
                    "campaign_id": campaign_id,
                    "tenant_id": self.tenant_id,
                    "count": change.failures,
                    "last_message": change.last_message[:200],
                    "last_at": at,
                    "streak": change.in_a_row,
                    "reset": change.reset,
                }
                for campaign_id, change in sorted(changes.items())
            ],
        )
        return {campaign_id: int(streak) for campaign_id, streak in rows}

    def pause_failing(self, campaign_id: uuid.UUID, version: int, at: datetime) -> bool:
        """Pauses the campaign, only if it is still active at ``version`` (a conditional
        update: of two processes that see the streak reach the limit, one pauses it), and
        clears its streak, so that a campaign set active again starts a new one."""
        c = self.table.c
        paused = self.conn.execute(
            self._update(
                c.id == campaign_id,
                c.status == CampaignStatus.ACTIVE.value,
                c.version == version,
            ).values(status=CampaignStatus.PAUSED.value, version=c.version + 1, updated_at=at)
        )
        if paused.rowcount != 1:
            return False
        self.reset_streak(campaign_id)
        return True

    def reset_streak(self, campaign_id: uuid.UUID) -> None:
        """An edited or paused campaign starts counting failures in a row again; its
        campaign row is locked first (as in a batch)."""
        f = t.campaign_condition_failures
        self.conn.execute(
            sa.update(f)
            .where(self._mine(f), f.c.campaign_id == campaign_id, f.c.streak != 0)
            .values(streak=0)
        )

    def claim_total(self, campaign_id: uuid.UUID, caps: Caps, cost: int) -> bool:
        """Counts one reward against the campaign's total and budget caps, only if both still
        allow it (a conditional update: concurrent events cannot both take the last one)."""
        c = self.table.c
        conditions = [c.id == campaign_id]
        if caps.total_rewards is not None:
            conditions.append(c.rewards_issued < caps.total_rewards)
        if caps.total_budget_minor is not None:
            conditions.append(c.budget_spent_minor + cost <= caps.total_budget_minor)
        result = self.conn.execute(
            self._update(*conditions).values(
                rewards_issued=c.rewards_issued + 1, budget_spent_minor=c.budget_spent_minor + cost
            )
        )
        return result.rowcount == 1

    def release_total(self, campaign_id: uuid.UUID, cost: int) -> None:
        c = self.table.c
        self.conn.execute(
            self._update(c.id == campaign_id).values(
                rewards_issued=c.rewards_issued - 1, budget_spent_minor=c.budget_spent_minor - cost
            )
        )

    def claim_subscriber(
        self, campaign_id: uuid.UUID, subscriber: str, period: str, cap: int
    ) -> bool:
        """One more reward for this subscriber in this period, only while under the cap."""
        n = t.campaign_subscriber_counts
        stmt = (
            _dialect(self.conn)
            .insert(n)
            .values(
                campaign_id=campaign_id,
                subscriber=subscriber,
                period=period,
                tenant_id=self.tenant_id,
                count=1,
            )
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "subscriber", "period"],
            set_={"count": n.c.count + 1},
            where=n.c.count < cap,
        ).returning(n.c.count)
        return self.conn.execute(stmt).first() is not None

    def release_subscriber(self, campaign_id: uuid.UUID, subscriber: str, period: str) -> None:
        n = t.campaign_subscriber_counts
        self.conn.execute(
            sa.update(n)
            .where(
                self._mine(n),
                n.c.campaign_id == campaign_id,
                n.c.subscriber == subscriber,
                n.c.period == period,
            )
            .values(count=n.c.count - 1)
        )


class RewardRepository(TenantScoped):
    table = t.rewards

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(
                sa.insert(self.table), [{**row, "tenant_id": self.tenant_id} for row in rows]
            )

    def get(self, reward_id: uuid.UUID) -> sa.RowMapping | None:
        return (
            self.conn.execute(self._select().where(self.table.c.id == reward_id)).mappings().first()
        )

    def mark_reversed(self, reward_id: uuid.UUID, at: datetime) -> bool:
        c = self.table.c
        result = self.conn.execute(
            self._update(c.id == reward_id, c.status == "granted").values(
                status="reversed", reversed_at=at
            )
        )
        return result.rowcount == 1

    def settlement(
        self, partner: str | None, since: datetime, until: datetime, period: str
    ) -> list[dict[str, Any]]:
        """Rewards funded by each partner by day or month, live. A partner pays per rewarded
        event, and one event may carry several rewards (a campaign with two reward kinds), so
        ``events`` counts each event once (it stands while one of its rewards stands) and
        ``events_reversed`` the events whose every reward in the row was reversed; ``rewards``
        and ``reversed`` count the reward rows behind them."""
        c = self.table.c
        rows = self.conn.execute(
            self._select(
                c.funding_partner, c.currency, c.rewarded_at, c.cost_minor, c.status, c.event_id
            ).where(
                c.funding_partner.is_not(None),
                c.rewarded_at >= since,
                c.rewarded_at < until,
                *([c.funding_partner == partner] if partner else []),
            )
        )
        fmt = "%Y-%m" if period == "month" else "%Y-%m-%d"
        totals: dict[tuple[str, str, str], dict[str, Any]] = {}
        standing: dict[tuple[str, str, str], set[str]] = {}
        seen: dict[tuple[str, str, str], set[str]] = {}
        for row in rows:
            key = (row.funding_partner, row.rewarded_at.strftime(fmt), row.currency)
            entry = totals.setdefault(
                key,
                {
                    "partner": key[0],
                    "period": key[1],
                    "currency": key[2],
                    "events": 0,
                    "events_reversed": 0,
                    "rewards": 0,
                    "amount_minor": 0,
                    "reversed": 0,
                },
            )
            seen.setdefault(key, set()).add(row.event_id)
            if row.status == "granted":
                standing.setdefault(key, set()).add(row.event_id)
                entry["rewards"] += 1
                entry["amount_minor"] += row.cost_minor
            else:
                entry["reversed"] += 1
        for key, entry in totals.items():
            entry["events"] = len(standing.get(key, ()))
            entry["events_reversed"] = len(seen[key]) - entry["events"]
        return [totals[k] for k in sorted(totals)]


@dataclasses.dataclass(frozen=True, slots=True)
class BatchStart:
    new_ids: set[str] | None
    definitions: builtins.list[AggregateDefinition]
    versions: builtins.list[tuple[str, int]]
    streaking: set[str]  # campaign ids (text) whose condition failed in a row


class IngestRepository(TenantScoped):
    """The reads and the insert an event batch starts with, in as few round trips as the
    store allows: on PostgreSQL two statements (each ~0.5 ms of latency, which matters for
    small batches), on SQLite the repositories' own statements one by one."""

    table = t.events

    def start(self, events: builtins.list[Event] | None, received_at: datetime) -> BatchStart:
        """Stores the events whose id is new (``None``: store nothing) and returns those
        ids, the aggregate definitions, the active campaigns' (id, version) and the ids of
        the campaigns with failures in a row."""
        new_ids: set[str] | None
        if self.conn.dialect.name != "postgresql":
            new_ids = (
                None
                if events is None
                else EventRepository(self.conn, self.tenant_id).insert_new(events, received_at)
            )
            campaigns = CampaignRepository(self.conn, self.tenant_id)
            return BatchStart(
                new_ids,
                AggregateRepository(self.conn, self.tenant_id).definitions(),
                campaigns.active_versions(),
                campaigns.streaking(),
            )
        if events is None or not events:
            definitions, versions, streaking = self.conn.exec_driver_sql(
                _BATCH_CONTEXT, {"tenant_id": self.tenant_id}
            ).one()
            new_ids = None if events is None else set()
        else:
            ids, definitions, versions, streaking = self.conn.exec_driver_sql(
                _START_BATCH,
                {
                    "tenant_id": self.tenant_id,
                    "received_at": received_at,
                    "batch": _events_json(events),
                },
            ).one()
            new_ids = set(ids)
        return BatchStart(
            new_ids,
            [
                AggregateDefinition(name, kind, Function(function), Window(window), attr, days)
                for name, kind, function, window, attr, days in definitions
            ],
            [(cid, version) for cid, version in versions],
            set(streaking),
        )

    def lookups(
        self,
        profiles_of: set[str],
        aggregates_of: set[str],
        names: builtins.list[str],
        buckets: set[str],
    ) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str, str], float]]:
        """The condition profiles of ``profiles_of`` and the stored aggregate values of
        ``aggregates_of`` (``names`` in ``buckets``)."""
        want_values = bool(aggregates_of and names and buckets)
        if self.conn.dialect.name != "postgresql":
            values = (
                AggregateRepository(self.conn, self.tenant_id).values(aggregates_of, names, buckets)
                if want_values
                else {}
            )
            return SubscriberRepository(self.conn, self.tenant_id).profiles(profiles_of), values
        if not profiles_of and not want_values:
            return {}, {}
        profiles, found = self.conn.exec_driver_sql(
            _LOOKUPS,
            {
                "tenant_id": self.tenant_id,
                "ids": json.dumps(sorted(profiles_of)),
                "subscribers": json.dumps(sorted(aggregates_of) if want_values else []),
                "names": sorted(names),
                "buckets": sorted(buckets),
            },
        ).one()
        return profile_rows(profiles), {(s, n, b): float(x) for s, n, b, x in found}
