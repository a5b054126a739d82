"""The rewards engine: each event is evaluated as it arrives, against every live campaign
that its type triggers, with one context per event shared by those campaigns.

A batch of events is one transaction: the events (deduplicated by id), the aggregates, and
every reward with its cap counters, EDR and notification commit together. Each reward runs
in a savepoint, so a cap reached or a list run dry undoes only that reward.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.adapters.expressions import EvaluationContext, ProgramCache
from tessera.domain.aggregates import AggregateDefinition
from tessera.domain.campaigns import Campaign, RewardKind, RewardSpec
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid
from tessera.domain.events import MAX_BATCH, Event
from tessera.domain.ids import new_id
from tessera.services.wallets import credit, ensure_subscriber

log = structlog.get_logger(__name__)


@dataclass
class RewardOutcome:
    reward_id: uuid.UUID
    campaign_id: uuid.UUID
    campaign: str
    kind: str
    details: dict[str, Any]
    cost_minor: int
    currency: str
    funding_partner: str | None


@dataclass
class EventOutcome:
    id: str
    duplicate: bool
    rewards: list[RewardOutcome] = field(default_factory=list)


def _event_view(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "subscriber": event.subscriber,
        "occurred_at": event.occurred_at,
        "attributes": event.attributes,
    }


def _no_profile(external_id: str) -> dict[str, Any]:
    return {"external_id": external_id, "service_state": "unknown"}


class _SkipReward(Exception):
    """A cap, a budget or a list that ran out: this campaign does not reward this event."""


class RewardsEngine:
    """Process-wide state: compiled programs, cached per campaign version."""

    def __init__(self) -> None:
        self.programs = ProgramCache()

    def ingest(
        self,
        uow: UnitOfWork,
        events: list[Event],
        *,
        only_campaign: uuid.UUID | None = None,
        dry_run: bool = False,
        stored: bool = False,
    ) -> list[EventOutcome]:
        """Evaluates a batch. ``dry_run`` rolls everything back (simulation); ``stored``
        replays events already in the store (no dedupe, aggregates from the replay only)."""
        if len(events) > MAX_BATCH:
            raise Invalid("events", f"at most {MAX_BATCH} events per batch")
        events = [e.validated(f"events[{i}].") for i, e in enumerate(events)]
        with uow:
            now = uow.clock()
            outcomes, fresh = self._dedupe(uow, events, now, stored)
            definitions = uow.aggregates.definitions()
            agg_state = self._load_aggregates(uow, definitions, fresh, stored)
            campaigns = self._campaigns(uow, only_campaign, dry_run)
            subscribers = self._profiles(uow, {e.subscriber for e in fresh})
            changes: list[tuple[str, str, str, Any, float]] = []
            matches: list[tuple[Campaign, Event]] = []
            for event in fresh:
                agg = self._fold(definitions, agg_state, event, changes)
                triggered = campaigns.get(event.type, [])
                live = [c for c in triggered if c.spec.is_live(event.occurred_at) or only_campaign]
                if not live:
                    continue
                profile = subscribers.get(event.subscriber) or _no_profile(event.subscriber)
                context = EvaluationContext(_event_view(event), profile, agg, now)
                for campaign in live:
                    program = self.programs.get(
                        campaign.id, campaign.version, campaign.spec.condition
                    )
                    if context.matches(program, campaign.id):
                        matches.append((campaign, event))
            # Rows are locked in one global order (subscribers, then campaigns and their
            # counters, then aggregates), so concurrent batches queue instead of deadlocking.
            for external_id in sorted({e.subscriber for _, e in matches}):
                ensure_subscriber(uow, external_id)
            by_id = {o.id: o for o in outcomes if not o.duplicate}
            for campaign, event in sorted(
                matches, key=lambda m: (m[0].id, m[1].subscriber, m[1].id)
            ):
                by_id[event.id].rewards += self._reward(uow, campaign, event, now)
            if not stored:
                uow.aggregates.apply(sorted(changes, key=lambda c: c[:3]))
            if dry_run:
                uow.rollback()
            else:
                uow.commit()
        return outcomes

    def _dedupe(
        self, uow: UnitOfWork, events: list[Event], now: datetime, stored: bool
    ) -> tuple[list[EventOutcome], list[Event]]:
        seen: set[str] = set()
        unique = []
        for e in events:
            if e.id not in seen:
                seen.add(e.id)
                unique.append(e)
        new_ids = {e.id for e in unique} if stored else uow.events.insert_new(unique, now)
        outcomes = []
        fresh = []
        first_seen: set[str] = set()
        for e in events:
            is_new = e.id in new_ids and e.id not in first_seen
            first_seen.add(e.id)
            outcomes.append(EventOutcome(id=e.id, duplicate=not is_new))
            if is_new:
                fresh.append(e)
        return outcomes, fresh

    def _load_aggregates(
        self,
        uow: UnitOfWork,
        definitions: list[AggregateDefinition],
        events: list[Event],
        stored: bool,
    ) -> dict[tuple[str, str, str], float]:
        if not definitions or not events or stored:
            return {}
        buckets: set[str] = set()
        for e in events:
            for d in definitions:
                buckets.update(d.read_keys(e.occurred_at))
        return uow.aggregates.values(
            {e.subscriber for e in events}, [d.name for d in definitions], buckets
        )

    def _fold(
        self,
        definitions: list[AggregateDefinition],
        state: dict[tuple[str, str, str], float],
        event: Event,
        changes: list[tuple[str, str, str, Any, float]],
    ) -> dict[str, float | int]:
        """Adds the event to the in-memory aggregates and returns ``agg`` as this event sees
        it: every earlier event of the batch and this one included."""
        agg: dict[str, float | int] = {}
        for d in definitions:
            value = d.contribution(event)
            if value is not None:
                key = (event.subscriber, d.name, d.bucket_key(event.occurred_at))
                current = state.get(key)
                state[key] = value if current is None else d.combine([current, value])
                changes.append((*key, d.function, value))
            present = [
                state[k]
                for k in ((event.subscriber, d.name, b) for b in d.read_keys(event.occurred_at))
                if k in state
            ]
            agg[d.name] = d.combine(present)
        return agg

    def _campaigns(
        self, uow: UnitOfWork, only: uuid.UUID | None, dry_run: bool
    ) -> dict[str, list[Campaign]]:
        if only is not None:
            campaign = uow.campaigns.get(only)
            chosen = [campaign] if campaign else []
        else:
            chosen = uow.campaigns.active()
        by_type: dict[str, list[Campaign]] = defaultdict(list)
        for c in sorted(chosen, key=lambda c: (c.spec.priority, c.id)):
            for trigger in c.spec.trigger_types:
                by_type[trigger].append(c)
        return by_type

    def _profiles(self, uow: UnitOfWork, external_ids: set[str]) -> dict[str, dict[str, Any]]:
        profiles = {}
        for s in uow.subscribers.many(external_ids):
            profiles[s.external_id] = {
                "external_id": s.external_id,
                "service_state": s.service_state.value,
                "attributes": s.attributes,
                **{
                    k: v
                    for k, v in s.attributes.items()
                    if k not in ("external_id", "service_state")
                },
            }
        return profiles

    def _reward(
        self, uow: UnitOfWork, campaign: Campaign, event: Event, now: datetime
    ) -> list[RewardOutcome]:
        spec = campaign.spec
        savepoint = uow.conn.begin_nested()
        try:
            caps = spec.caps
            period = caps.period_key(event.occurred_at)
            if caps.per_subscriber is not None and not uow.campaigns.claim_subscriber(
                campaign.id, event.subscriber, period, caps.per_subscriber
            ):
                raise _SkipReward("per-subscriber cap reached")
            if caps.limits_total and not uow.campaigns.claim_total(
                campaign.id, caps, spec.cost_per_reward_minor
            ):
                raise _SkipReward("total cap or budget reached")
            granted: list[RewardOutcome] = []
            for reward in spec.rewards:
                details = {**self._grant(uow, reward, event, now), "cap_period": period}
                reward_id = new_id()
                cost = spec.cost_per_reward_minor if not granted else 0
                uow.rewards.add(
                    id=reward_id,
                    campaign_id=campaign.id,
                    event_id=event.id,
                    subscriber=event.subscriber,
                    kind=reward.kind.value,
                    details=details,
                    funding_partner=spec.funding_partner,
                    cost_minor=cost,
                    currency=spec.currency,
                    status="granted",
                    rewarded_at=now,
                )
                uow.edrs.append(
                    EdrDraft(
                        "reward.grant",
                        "reward",
                        str(reward_id),
                        status_after="granted",
                        amount_minor=cost,
                        currency=spec.currency,
                        details={
                            "campaign_id": str(campaign.id),
                            "campaign": spec.name,
                            "event_id": event.id,
                            "subscriber": event.subscriber,
                            "funding_partner": spec.funding_partner,
                            **{k: v for k, v in details.items() if k != "code"},
                        },
                    ),
                    now,
                )
                granted.append(
                    RewardOutcome(
                        reward_id, campaign.id, spec.name, reward.kind.value, details, cost,
                        spec.currency, spec.funding_partner,
                    )
                )  # fmt: skip
            savepoint.commit()
            return granted
        except _SkipReward as skip:
            savepoint.rollback()
            log.info(
                "reward skipped", campaign_id=str(campaign.id), event_id=event.id, reason=str(skip)
            )
            return []

    def _grant(
        self, uow: UnitOfWork, reward: RewardSpec, event: Event, now: datetime
    ) -> dict[str, Any]:
        if reward.kind is RewardKind.CREDIT_BUCKET:
            assert reward.balance_type is not None
            assert reward.amount is not None
            subscriber = ensure_subscriber(uow, event.subscriber)
            expires = now + timedelta(days=reward.validity_days) if reward.validity_days else None
            bucket_id = credit(
                uow, subscriber, reward.balance_type, reward.amount, expires, {"event_id": event.id}
            )
            return {
                "balance_type": reward.balance_type,
                "amount": reward.amount,
                "bucket_id": bucket_id,
                "expires_at": expires.isoformat() if expires else None,
            }
        raise Conflict(
            f"reward kind {reward.kind.value} is not available yet", code="reward_kind_unavailable"
        )
