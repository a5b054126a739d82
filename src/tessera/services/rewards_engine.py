"""The rewards engine: each event is evaluated as it arrives, against every live campaign
that its type triggers, with one context per event shared by those campaigns.

A batch of events is one transaction: the events (deduplicated by id), the aggregates, and
every reward with its cap counters and EDRs commit together. The work runs in steps: screen
each event on itself (most match no campaign on their own attributes), folding it into the
aggregates; read the profiles and stored aggregates of the events left, and evaluate them;
claim caps (each capped reward in a savepoint, so a cap reached undoes only that reward),
locking rows in one global order so concurrent batches queue instead of deadlocking; then
write grants, rewards and EDRs in bulk.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.adapters.expressions import (
    EvaluationContext,
    ProgramCache,
    Screen,
    Uses,
    merge_uses,
)
from tessera.domain.aggregates import AggregateDefinition
from tessera.domain.campaigns import Campaign, CampaignStatus, FailureCount, RewardKind, RewardSpec
from tessera.domain.catalog import VoucherType
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Invalid, Unavailable
from tessera.domain.events import MAX_BATCH, STATE_CHANGED, Event
from tessera.domain.ids import new_id
from tessera.domain.lifecycle import LifecycleRules
from tessera.domain.vouchers import expiry_of
from tessera.domain.wallet import Subscriber
from tessera.services.distribution import give_code, language_of
from tessera.services.issuing import issue_voucher
from tessera.services.notifications import enqueue, enqueue_many

VOUCHER_REWARDED = "voucher.rewarded"

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


@dataclass
class _Grant:
    campaign: Campaign
    event: Event
    reward: RewardSpec
    cost: int
    period: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Plan:
    """For one event type: its campaigns (in priority order) with their programs, the
    screen or-ing them, what their conditions read, the aggregates they read, and whether
    every one of them is live at any time (active, no start or end), which spares the check
    per event."""

    campaigns: list[tuple[Campaign, Any]]
    screen: Screen
    uses: Uses
    agg: list[AggregateDefinition]
    always_live: bool


def _fold(d: AggregateDefinition, added: dict[tuple[str, str, str], float], event: Event) -> None:
    """Adds the event to what the batch adds to its stored bucket."""
    value = d.contribution(event)
    if value is None:
        return
    key = (event.subscriber, d.name, d.bucket_key(event.occurred_at))
    current = added.get(key)
    added[key] = value if current is None else d.combine([current, value])


def _read_keys(
    definitions: list[AggregateDefinition], event: Event
) -> list[tuple[AggregateDefinition, list[tuple[str, str, str]]]]:
    return [
        (d, [(event.subscriber, d.name, b) for b in d.read_keys(event.occurred_at)])
        for d in definitions
    ]


@dataclass(frozen=True, slots=True)
class _Unsettled:
    """An event that its type's screen did not settle on the event alone: evaluated once
    the profiles and stored aggregates are read, for these events only."""

    event: Event
    position: int  # in the batch's fresh events
    live: list[tuple[Campaign, Any]]
    context: EvaluationContext


@dataclass
class _Lookups:
    """Filled after the screens; read by the unsettled events' contexts."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored: dict[tuple[str, str, str], float] = field(default_factory=dict)
    wallets: dict[str, dict[str, int]] = field(default_factory=dict)

    def profile(self, subscriber: str) -> dict[str, Any]:
        return self.profiles.get(subscriber) or {"external_id": subscriber}

    def wallet(self, subscriber: str) -> dict[str, int]:
        return self.wallets.get(subscriber, {})

    def agg_view(
        self,
        definitions: list[AggregateDefinition],
        event: Event,
        added: dict[tuple[str, str, str], float],
    ) -> dict[str, float | int]:
        """``agg`` as the event sees it: the stored buckets, with what every earlier event of
        the batch and this one ``added``."""
        agg: dict[str, float | int] = {}
        for d, keys in _read_keys(definitions, event):
            values = []
            for key in keys:
                parts = [v for v in (self.stored.get(key), added.get(key)) if v is not None]
                if parts:
                    values.append(d.combine(parts))
            agg[d.name] = d.combine(values)
        return agg


def _dedupe(events: list[Event], new_ids: set[str]) -> tuple[list[EventOutcome], list[Event]]:
    """An outcome per event, in order; the first copy of a new id is fresh, the rest are
    duplicates."""
    outcomes = []
    fresh = []
    for e in events:
        is_new = e.id in new_ids
        new_ids.discard(e.id)  # a second copy within the batch is a duplicate
        outcomes.append(EventOutcome(id=e.id, duplicate=not is_new))
        if is_new:
            fresh.append(e)
    return outcomes, fresh


def _notice(g: _Grant, reward_id: uuid.UUID) -> dict[str, Any]:
    """What ``voucher.rewarded`` says of one reward: the campaign, the reward, the event, and
    what was given, by kind (a code travels only in the sealed payload, to the webhook)."""
    details = g.details
    notice: dict[str, Any] = {
        "kind": g.reward.kind.value,
        "subscriber": g.event.subscriber,
        "campaign": g.campaign.spec.name,
        "campaign_id": g.campaign.id,
        "reward_id": reward_id,
        "event_id": g.event.id,
        "expiry": details.get("expires_at"),
    }
    keys: tuple[str, ...]
    if g.reward.kind is RewardKind.LIST_CODE:
        keys = ("list_id", "list", "partner", "code", "description")
    elif g.reward.kind is RewardKind.ISSUE_VOUCHER:
        keys = ("serial", "voucher_type", "voucher_type_id", "code")
    else:
        keys = ("balance_type", "amount")
    notice.update((key, details.get(key)) for key in keys)
    return notice


def _gives_codes(campaign: Campaign) -> bool:
    return any(r.kind is RewardKind.LIST_CODE for r in campaign.spec.rewards)


def _event_view(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "subscriber": event.subscriber,
        "occurred_at": event.occurred_at,
        "attributes": event.attributes,
    }


def _screened(
    fresh: list[Event],
    plans: dict[str, _Plan],
    definitions: list[AggregateDefinition],
    only_campaign: uuid.UUID | None,
    lookups: _Lookups,
    now: datetime,
) -> tuple[dict[tuple[str, str, str], float], list[_Unsettled]]:
    """Goes through the batch in order: folds each event into what the batch adds to the
    aggregates, and runs its type's screen on the event alone. Returns what the batch adds,
    and the events the screens did not settle (their contexts read ``lookups`` once it is
    filled, with the aggregates as they stood at the event)."""
    contributing: dict[str, list[AggregateDefinition]] = defaultdict(list)
    for d in definitions:
        contributing[d.event_type].append(d)
    added: dict[tuple[str, str, str], float] = {}
    unsettled: list[_Unsettled] = []
    for position, event in enumerate(fresh):
        for d in contributing.get(event.type, ()):
            _fold(d, added, event)
        plan = plans.get(event.type)
        if plan is None:
            continue
        live = (
            plan.campaigns
            if plan.always_live and not only_campaign
            else [
                (c, p)
                for c, p in plan.campaigns
                if only_campaign or c.spec.is_live(event.occurred_at)
            ]
        )
        if not live:
            continue
        so_far: dict[tuple[str, str, str], float] = {}  # filled if not settled
        context = EvaluationContext(
            _event_view(event),
            partial(lookups.profile, event.subscriber),  # called if read
            partial(lookups.agg_view, plan.agg, event, so_far),
            now,
            plan.uses,
            partial(lookups.wallet, event.subscriber),
        )
        if context.settled_by(plan.screen):
            continue
        for _d, keys in _read_keys(plan.agg, event):
            so_far.update((k, added[k]) for k in keys if k in added)
        unsettled.append(_Unsettled(event, position, live, context))
    return added, unsettled


@dataclass(frozen=True, slots=True)
class _Evaluated:
    """What a batch's evaluation left for the failure counts: the fresh events, the plans,
    and each failure (campaign, reason) with the position of its event."""

    fresh: list[Event]
    plans: dict[str, _Plan]
    only_campaign: uuid.UUID | None
    failed: list[tuple[Campaign, str]]
    failed_at: list[int]

    def changes(
        self, streaking: set[str]
    ) -> tuple[dict[uuid.UUID, FailureCount], dict[uuid.UUID, Campaign]]:
        """Per campaign that failed in the batch or has a streak (``streaking``), what the
        batch does to its count and streak; campaigns with a streak and no success here are
        left as they are. Runs only in a batch with a failure or a streak."""
        by_id = {c.id: c for plan in self.plans.values() for c, _p in plan.campaigns}
        watch = {c.id for c, _r in self.failed}
        watch.update(cid for cid in by_id if str(cid) in streaking)
        if not watch:
            return {}, by_id
        watched = {
            kind: [c for c, _p in plan.campaigns if c.id in watch]
            for kind, plan in self.plans.items()
        }
        failed_at = set(zip((c.id for c, _r in self.failed), self.failed_at, strict=True))
        last_success: dict[uuid.UUID, int] = {}
        for position in range(len(self.fresh) - 1, -1, -1):  # the last success of each
            event = self.fresh[position]
            for c in watched.get(event.type, ()):
                if c.id in last_success or (c.id, position) in failed_at:
                    continue
                if self.only_campaign or c.spec.is_live(event.occurred_at):
                    last_success[c.id] = position
            if len(last_success) == len(watch):
                break
        counted: dict[uuid.UUID, tuple[int, str, int]] = {}
        for (campaign, reason), position in zip(self.failed, self.failed_at, strict=True):
            failures, _message, after = counted.get(campaign.id, (0, "", 0))
            later = position > last_success.get(campaign.id, -1)
            counted[campaign.id] = (failures + 1, reason, after + later)
        changes = {}
        for campaign_id in watch:
            failures, message, after = counted.get(campaign_id, (0, "", 0))
            reset = campaign_id in last_success
            if failures or reset:
                changes[campaign_id] = FailureCount(failures, message, after, reset)
        return changes, by_id


class RewardsEngine:
    """Process-wide state: compiled programs, cached per campaign version, and where the
    code secret comes from (issued vouchers store only their code's keyed hash)."""

    def __init__(
        self, code_secret: Callable[[], bytes] | None = None, pause_after_failures: int = 0
    ) -> None:
        self.programs = ProgramCache()
        self._code_secret = code_secret
        self.pause_after_failures = pause_after_failures  # 0: never
        self._campaign_cache: dict[str, Campaign] = {}
        self._plan_cache: dict[object, dict[str, _Plan]] = {}
        # Told how many conditions failed in a batch (the HTTP app counts them in Prometheus).
        self.condition_failed: Callable[[int], None] = lambda _count: None

    def _secret(self) -> bytes:
        if self._code_secret is None:
            raise Unavailable(
                "no code secret: vouchers cannot be issued", code="code_secret_missing"
            )
        return self._code_secret()

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
            unique = list({e.id: e for e in reversed(events)}.values())[::-1]  # first of each id
            start = uow.ingest.start(None if stored else sorted(unique, key=lambda e: e.id), now)
            new_ids, definitions, versions = start.new_ids, start.definitions, start.versions
            if new_ids is None:  # a replay: every event is evaluated again
                new_ids = {e.id for e in unique}
            outcomes, fresh = _dedupe(events, new_ids)
            if not dry_run:
                _apply_state_changes(uow, fresh, now)
            plans = self._plans(uow, only_campaign, definitions, versions)
            lookups = _Lookups()
            added, unsettled = _screened(fresh, plans, definitions, only_campaign, lookups, now)
            buckets: set[str] = set()
            if definitions and not stored:
                for moment in {
                    u.event.occurred_at.date(): u.event.occurred_at for u in unsettled
                }.values():
                    for d in definitions:
                        buckets.update(d.read_keys(moment))
            lookups.profiles, lookups.stored = uow.ingest.lookups(
                {u.event.subscriber for u in unsettled if "subscriber" in plans[u.event.type].uses},
                {u.event.subscriber for u in unsettled} if buckets else set(),
                [d.name for d in definitions],
                buckets,
            )
            lookups.wallets = uow.buckets.usable_totals(
                {u.event.subscriber for u in unsettled if "wallet" in plans[u.event.type].uses},
                now,
            )
            matches: list[tuple[Campaign, Event]] = []
            failed: list[tuple[Campaign, str]] = []
            failed_at: list[int] = []  # the position of the event of each failure
            for u in unsettled:
                before = len(failed)
                for campaign in u.context.matching(u.live, failed=failed):
                    matches.append((campaign, u.event))
                if len(failed) != before:
                    failed_at.extend([u.position] * (len(failed) - before))
            if matches:  # a terminated subscriber is rewarded nothing
                gone = uow.subscribers.terminated({event.subscriber for _c, event in matches})
                matches = [(c, event) for c, event in matches if event.subscriber not in gone]
            grants = self._claim(uow, matches, now)
            by_id = {o.id: o for o in outcomes if not o.duplicate}
            for event_id, reward in self._write(uow, grants, now, notify=not dry_run):
                by_id[event_id].rewards.append(reward)
            if not stored:
                function_of = {d.name: d.function for d in definitions}
                uow.aggregates.apply({k: (function_of[k[1]], v) for k, v in added.items()})
            reached: list[tuple[Campaign, int, str]] = []
            if (failed or start.streaking) and not dry_run:
                evaluated = _Evaluated(fresh, plans, only_campaign, failed, failed_at)
                reached = self._count_failures(uow, evaluated, start.streaking, now)
            if dry_run:  # what would happen, never a real code (nothing is given)
                uow.rollback()
                for answer in outcomes:
                    for given in answer.rewards:
                        given.details.pop("code", None)
            else:
                uow.commit()
        if reached:
            self._pause(uow, reached)
        return outcomes

    def _count_failures(
        self, uow: UnitOfWork, evaluated: _Evaluated, streaking: set[str], now: datetime
    ) -> list[tuple[Campaign, int, str]]:
        """Each failed condition counted on its campaign, and the streaks moved (the last
        write of the batch: its rows are locked after every other), in the metric, logged
        once per campaign. Returns the campaigns whose streak reached the limit, with it and
        the last reason.

        "N failures in a row" means: N failures of the campaign's condition with no
        successful evaluation of it (a true or false, the screen's false on the event alone
        included) between them, in event order within a batch and in commit order between
        batches. A batch writes for a success only when the campaign's streak was non-zero
        as the batch began (read with the active campaigns, so a success costs no write in
        the usual case of no streak). So, with several processes, failures that another
        batch commits while a batch with successes runs still count in a row; the next
        batch that begins after them and evaluates the campaign well resets the streak."""
        changes, by_id = evaluated.changes(streaking)
        if not changes:
            return []
        streaks = uow.campaigns.count_failures(changes, now)
        if evaluated.failed:
            self.condition_failed(len(evaluated.failed))
        for campaign_id, change in changes.items():
            if change.failures:
                log.warning(
                    "condition failed at run time",
                    campaign_id=str(campaign_id),
                    failures=change.failures,
                    in_a_row=streaks.get(campaign_id),
                    error=change.last_message,
                )
        limit = self.pause_after_failures
        return [
            (by_id[campaign_id], streak, changes[campaign_id].last_message)
            for campaign_id, streak in sorted(streaks.items())
            if limit and streak >= limit and changes[campaign_id].failures
        ]

    def _pause(self, uow: UnitOfWork, reached: list[tuple[Campaign, int, str]]) -> None:
        """Pauses each campaign whose condition failed ``pause_after_failures`` times in a
        row, with an EDR and a ``campaign.paused`` notification, in a transaction of its own
        after the batch committed: it locks the campaign row before its failures row, as a
        batch does (in the batch's own transaction, it would take them in the other order).
        The pause is conditional (still active, at the version that failed): of two processes
        that see the limit reached, one pauses it. Should this fail, the batch still stands
        and the streak stays at the limit, so the campaign's next failure pauses it."""
        try:
            with uow:
                now = uow.clock()
                for campaign, streak, message in reached:
                    if not uow.campaigns.pause_failing(campaign.id, campaign.version, now):
                        continue  # paused meanwhile, by another process or the tenant, or edited
                    details = {
                        "campaign_id": str(campaign.id),
                        "campaign": campaign.spec.name,
                        "failures": streak,
                        "last_message": message,
                        "paused_at": now,
                    }
                    uow.edrs.append(
                        EdrDraft(
                            "campaign.pause",
                            "campaign",
                            str(campaign.id),
                            status_before=CampaignStatus.ACTIVE.value,
                            status_after=CampaignStatus.PAUSED.value,
                            details={
                                "reason": "condition_failures",
                                "failures": streak,
                                "last_message": message,
                                "version": campaign.version + 1,
                            },
                        ),
                        now,
                    )
                    enqueue(uow, "campaign.paused", details)
                    log.warning(
                        "campaign paused: its condition failed in a row",
                        campaign_id=str(campaign.id),
                        failures=streak,
                        error=message,
                    )
                uow.commit()
        except Exception:  # the batch has committed: its answer must still be given
            log.exception("pausing a failing campaign failed; its next failure tries again")

    def _campaigns(
        self, uow: UnitOfWork, only: uuid.UUID | None, versions: list[tuple[str, int]]
    ) -> tuple[list[Campaign], bool]:
        """The campaigns to evaluate, and whether they are exactly ``versions``. Active ones
        come from a per-process cache checked against the store's (id, version) list on
        every batch: an edit bumps the version, so only campaigns that changed are read
        again."""
        if only is not None:
            campaign = uow.campaigns.get(only)
            return ([campaign] if campaign else []), False
        cache = self._campaign_cache
        stale = [cid for cid, v in versions if (c := cache.get(cid)) is None or c.version != v]
        if stale:
            for c in uow.campaigns.many([uuid.UUID(cid) for cid in stale]):
                cache[str(c.id)] = c
        chosen = [cache.get(cid) for cid, _v in versions]
        if any(c is None or c.version != v for c, (_id, v) in zip(chosen, versions, strict=True)):
            return uow.campaigns.active(), False  # changed between the reads: take them as are
        return [c for c in chosen if c is not None], True

    def _plans(
        self,
        uow: UnitOfWork,
        only: uuid.UUID | None,
        definitions: list[AggregateDefinition],
        versions: list[tuple[str, int]],
    ) -> dict[str, _Plan]:
        """Per event type, what the batch evaluates: built once per set of campaign versions
        and aggregate definitions, and kept (keyed by the store's list, so a batch whose
        campaigns did not change costs one dictionary lookup)."""
        key = (tuple(versions), tuple(definitions))
        plans = self._plan_cache.get(key) if only is None else None
        if plans is not None:
            return plans
        chosen, exact = self._campaigns(uow, only, versions)
        by_type: dict[str, list[Campaign]] = defaultdict(list)
        for c in sorted(chosen, key=lambda c: (c.spec.priority, c.id)):
            for trigger in c.spec.trigger_types:
                by_type[trigger].append(c)
        plans = {}
        for kind, triggered in by_type.items():
            programs = [
                (c, self.programs.get(c.id, c.version, c.spec.condition)) for c in triggered
            ]
            uses = merge_uses([self.programs.uses(c.id, c.version) for c in triggered])
            wanted = uses.get("agg", frozenset())
            plans[kind] = _Plan(
                programs,
                Screen([p for _c, p in programs]),
                uses,
                [d for d in definitions if wanted is None or d.name in wanted],
                all(c.spec.is_live_always() for c in triggered),
            )
        if exact:
            if len(self._plan_cache) > 64:
                self._plan_cache.clear()
            self._plan_cache[key] = plans
        return plans

    def _claim(
        self, uow: UnitOfWork, matches: list[tuple[Campaign, Event]], now: datetime
    ) -> list[_Grant]:
        """Counts each match against its campaign's caps, in (campaign, subscriber) order, and
        takes list codes; a cap reached or lists run dry undo only that match (savepoint)."""
        grants: list[_Grant] = []
        needs_code = [m for m in matches if _gives_codes(m[0])]
        owners: dict[str, Subscriber] = {}
        if needs_code:
            wanted = {e.subscriber for _, e in needs_code}
            _ids, created = uow.subscribers.ensure_many(wanted, now)
            self._subscriber_edrs(uow, created, now)
            owners = {s.external_id: s for s in uow.subscribers.many(wanted)}
        for campaign, event in sorted(matches, key=lambda m: (m[0].id, m[1].subscriber, m[1].id)):
            spec, caps = campaign.spec, campaign.spec.caps
            period = caps.period_key(event.occurred_at)
            codes = _gives_codes(campaign)
            if caps.per_subscriber is not None or caps.limits_total or codes:
                savepoint = uow.conn.begin_nested()
                if caps.per_subscriber is not None and not uow.campaigns.claim_subscriber(
                    campaign.id, event.subscriber, period, caps.per_subscriber
                ):
                    savepoint.rollback()
                    log.debug("per-subscriber cap reached", campaign_id=str(campaign.id))
                    continue
                if caps.limits_total and not uow.campaigns.claim_total(
                    campaign.id, caps, spec.cost_per_reward_minor
                ):
                    savepoint.rollback()
                    log.debug("total cap or budget reached", campaign_id=str(campaign.id))
                    continue
                taken = (
                    self._take_codes(uow, campaign, owners.get(event.subscriber)) if codes else {}
                )
                if taken is None:
                    savepoint.rollback()
                    log.debug("voucher lists exhausted", campaign_id=str(campaign.id))
                    continue
                savepoint.commit()
            else:
                taken = {}
            for index, reward in enumerate(spec.rewards):
                cost = spec.cost_per_reward_minor if index == 0 else 0
                grants.append(_Grant(campaign, event, reward, cost, period, taken.get(index, {})))
        return grants

    def _take_codes(
        self, uow: UnitOfWork, campaign: Campaign, subscriber: Subscriber | None
    ) -> dict[int, dict[str, Any]] | None:
        """One code per list_code reward, from its lists in order; None if any ran dry."""
        assert subscriber is not None
        taken: dict[int, dict[str, Any]] = {}
        for index, reward in enumerate(campaign.spec.rewards):
            if reward.kind is not RewardKind.LIST_CODE:
                continue
            given = give_code(
                uow, reward.list_ids, subscriber, campaign=campaign.spec.name, notify=False
            )
            if given is None:
                return None
            taken[index] = {
                "code": given.code,
                "code_id": given.code_id,
                "list_id": str(given.list_id),
                "list": given.list_name,
                "partner": given.partner,
                "description": given.description,
                "expires_at": given.expires_at.isoformat() if given.expires_at else None,
            }
        return taken

    def _issue_vouchers(self, uow: UnitOfWork, grants: list[_Grant], now: datetime) -> None:
        """A new voucher per grant, its code returned once (in the answer, never stored).
        Runs after every cap is claimed, so the serial counter is always locked last."""
        if not grants:
            return
        secret = self._secret()
        wanted = {g.event.subscriber for g in grants}
        _ids, created = uow.subscribers.ensure_many(wanted, now)
        self._subscriber_edrs(uow, created, now)
        owners = {s.external_id: s for s in uow.subscribers.many(wanted)}
        types: dict[uuid.UUID, VoucherType | None] = {}
        rules: dict[uuid.UUID, LifecycleRules | None] = {}
        for g in grants:
            type_id = g.reward.voucher_type_id
            assert type_id is not None
            voucher, code = issue_voucher(
                uow, type_id, secret, subscriber=owners[g.event.subscriber]
            )
            if type_id not in types:
                types[type_id] = uow.voucher_types.get(type_id)
            if voucher.lifecycle_id not in rules:
                lifecycle = uow.lifecycles.get(voucher.lifecycle_id)
                rules[voucher.lifecycle_id] = lifecycle.rules if lifecycle else None
            voucher_type, lifecycle_rules = types[type_id], rules[voucher.lifecycle_id]
            expires = expiry_of(voucher, lifecycle_rules) if lifecycle_rules else None
            g.details = {
                "code": code,
                "serial": voucher.serial,
                "voucher_type_id": str(voucher.voucher_type_id),
                "voucher_type": voucher_type.spec.name if voucher_type else None,
                "expires_at": expires.isoformat() if expires else None,
            }

    def _subscriber_edrs(self, uow: UnitOfWork, created: set[str], now: datetime) -> None:
        uow.edrs.append_many(
            [
                EdrDraft("subscriber.create", "subscriber", ext, status_after="active")
                for ext in sorted(created)
            ],
            now,
        )

    def _write(
        self, uow: UnitOfWork, grants: list[_Grant], now: datetime, *, notify: bool
    ) -> list[tuple[str, RewardOutcome]]:
        """Grants, reward rows and EDRs for the claimed rewards, each kind in one statement,
        and (``notify``) a ``voucher.rewarded`` notification for each."""
        if not grants:
            return []
        self._issue_vouchers(
            uow, [g for g in grants if g.reward.kind is RewardKind.ISSUE_VOUCHER], now
        )
        credits = [g for g in grants if g.reward.kind is RewardKind.CREDIT_BUCKET]
        if credits:
            owners, created = uow.subscribers.ensure_many(
                {g.event.subscriber for g in credits}, now
            )
            self._subscriber_edrs(uow, created, now)
            rows = []
            for g in credits:
                days = g.reward.validity_days
                expires = now + timedelta(days=days) if days else None
                rows.append(
                    (owners[g.event.subscriber], g.reward.balance_type, g.reward.amount, expires)
                )
                g.details = {
                    "balance_type": g.reward.balance_type,
                    "amount": g.reward.amount,
                    "expires_at": expires.isoformat() if expires else None,
                }
            for g, bucket_id in zip(credits, uow.buckets.add_many(rows, now), strict=True):
                g.details["bucket_id"] = bucket_id
        edrs: list[EdrDraft] = []
        reward_rows: list[dict[str, Any]] = []
        outcomes: list[tuple[str, RewardOutcome]] = []
        given: list[tuple[_Grant, uuid.UUID]] = []
        for g in grants:
            spec = g.campaign.spec
            reward_id = new_id()
            given.append((g, reward_id))
            details = {**g.details, "cap_period": g.period}
            stored = {k: v for k, v in details.items() if k != "code"}  # codes stay sealed
            reward_rows.append(
                {
                    "id": reward_id,
                    "campaign_id": g.campaign.id,
                    "event_id": g.event.id,
                    "subscriber": g.event.subscriber,
                    "kind": g.reward.kind.value,
                    "details": stored,
                    "funding_partner": spec.funding_partner,
                    "cost_minor": g.cost,
                    "currency": spec.currency,
                    "status": "granted",
                    "rewarded_at": now,
                    "reversed_at": None,
                }
            )
            if g.reward.kind is RewardKind.CREDIT_BUCKET:
                edrs.append(
                    EdrDraft(
                        "wallet.credit",
                        "subscriber",
                        g.event.subscriber,
                        amount_minor=g.reward.amount,
                        details={**g.details, "event_id": g.event.id, "reward_id": str(reward_id)},
                    )
                )
            edrs.append(
                EdrDraft(
                    "reward.grant",
                    "reward",
                    str(reward_id),
                    status_after="granted",
                    amount_minor=g.cost,
                    currency=spec.currency,
                    details={
                        "campaign_id": str(g.campaign.id),
                        "campaign": spec.name,
                        "event_id": g.event.id,
                        "subscriber": g.event.subscriber,
                        "funding_partner": spec.funding_partner,
                        **stored,
                    },
                )
            )
            # A partner's code reaches the subscriber through the tenant's webhook only: the
            # caller that sent the event is told which code, never the code itself.
            answered = stored if g.reward.kind is RewardKind.LIST_CODE else details
            outcome = RewardOutcome(
                reward_id,
                g.campaign.id,
                spec.name,
                g.reward.kind.value,
                answered,
                g.cost,
                spec.currency,
                spec.funding_partner,
            )
            outcomes.append((g.event.id, outcome))
        uow.rewards.add_many(reward_rows)
        uow.edrs.append_many(edrs, now)
        if notify:
            self._notify(uow, given)
        return outcomes

    def _notify(self, uow: UnitOfWork, given: list[tuple[_Grant, uuid.UUID]]) -> None:
        """A ``voucher.rewarded`` per reward, whatever it gave: one lookup of the endpoints
        per batch; the subscribers' languages are read only when one listens."""
        endpoints = uow.webhooks.subscribed(VOUCHER_REWARDED)
        if not endpoints:
            return
        wanted = {g.event.subscriber for g, _id in given}
        subscribers = {s.external_id: s for s in uow.subscribers.many(wanted)}
        messages = []
        for g, reward_id in given:
            owner = subscribers.get(g.event.subscriber)
            messages.append((_notice(g, reward_id), language_of(owner) if owner else None))
        enqueue_many(uow, VOUCHER_REWARDED, messages, endpoints)


def _apply_state_changes(uow: UnitOfWork, fresh: list[Event], now: datetime) -> None:
    """A ``service.state_changed`` event moves its subscriber's service state (the latest
    event of the batch for each subscriber wins), before any condition reads it."""
    latest: dict[str, Event] = {}
    for event in fresh:
        if event.type == STATE_CHANGED:
            seen = latest.get(event.subscriber)
            if seen is None or event.occurred_at >= seen.occurred_at:
                latest[event.subscriber] = event
    if latest:
        states = {s: e.new_state for s, e in latest.items() if e.new_state is not None}
        uow.subscribers.set_states(states, now)
        drafts = [
            EdrDraft(
                "subscriber.state_change",
                "subscriber",
                subscriber,
                status_after=state,
                details={"event_id": latest[subscriber].id},
            )
            for subscriber, state in sorted(states.items())
        ]
        uow.edrs.append_many(drafts, now)
