"""Campaigns and aggregates (configuration), simulation, partner settlement, reward reversal."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.adapters.expressions import check_condition
from tessera.domain.aggregates import AggregateDefinition
from tessera.domain.campaigns import Campaign, CampaignFigures, CampaignSpec, RewardKind
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid, NotFound, refuse_nulls
from tessera.domain.events import Event
from tessera.domain.ids import new_id
from tessera.domain.paging import Page
from tessera.domain.statuses import IllegalTransition, Operation, VoucherStatus, sources
from tessera.domain.vouchers import BarPolicy
from tessera.services import redemption
from tessera.services.redemption import Request, Target
from tessera.services.rewards_engine import EventOutcome, RewardsEngine


def condition_checked(uow: UnitOfWork, condition: str, trigger_type: str) -> None:
    """The check a condition passes when a campaign is saved (ConditionError with its line
    and column otherwise): the console's editor asks it as the text is typed."""
    declared = [d.name for d in uow.aggregates.definitions()]
    check_condition(condition, declared, trigger_type, uow.clock())


def check_condition_text(uow: UnitOfWork, condition: str, trigger_type: str) -> None:
    with uow:
        condition_checked(uow, condition, trigger_type)


def _check(uow: UnitOfWork, spec: CampaignSpec, except_id: uuid.UUID | None = None) -> CampaignSpec:
    spec = spec.validated()
    condition_checked(uow, spec.condition, spec.trigger_types[0])
    for i, reward in enumerate(spec.rewards):
        known_type = reward.voucher_type_id and uow.voucher_types.get(reward.voucher_type_id)
        if reward.kind is RewardKind.ISSUE_VOUCHER and not known_type:
            raise Invalid(f"rewards[{i}].voucher_type_id", "no voucher type with this id")
        if reward.kind is RewardKind.LIST_CODE:
            known = uow.lists.many(reward.list_ids)
            for j, list_id in enumerate(reward.list_ids):
                if list_id not in known:
                    raise Invalid(f"rewards[{i}].list_ids[{j}]", "no voucher list with this id")
    if uow.campaigns.name_taken(spec.name, except_id):
        raise Conflict(f"a campaign named '{spec.name}' already exists", code="name_taken")
    return spec


Shown = tuple[Campaign, CampaignFigures]


def _shown(uow: UnitOfWork, found: list[Campaign]) -> list[Shown]:
    """Campaigns with their figures, as every answer that shows a campaign shows it."""
    figures = uow.campaigns.figures([c.id for c in found])
    return [(c, figures[c.id]) for c in found]


def create_campaign(uow: UnitOfWork, spec: CampaignSpec) -> Shown:
    with uow:
        spec = _check(uow, spec)
        now = uow.clock()
        campaign = Campaign(id=new_id(), version=1, spec=spec, created_at=now, updated_at=now)
        uow.campaigns.add(campaign)
        uow.edrs.append(
            EdrDraft(
                "campaign.create", "campaign", str(campaign.id), status_after=spec.status.value
            ),
            now,
        )
        shown = _shown(uow, [campaign])[0]
        uow.commit()
    return shown


CLEARABLE = frozenset({"starts_at", "ends_at", "funding_partner"})


def update_campaign(uow: UnitOfWork, campaign_id: uuid.UUID, changes: dict[str, Any]) -> Shown:
    """Every edit bumps the version, so the compiled-program cache never serves a stale rule.
    Null clears only the start, the end and the funding partner."""
    refuse_nulls(changes, CLEARABLE)
    with uow:
        current = get_in(uow, campaign_id)
        spec = _check(uow, dataclasses.replace(current.spec, **changes), except_id=campaign_id)
        updated = dataclasses.replace(
            current, spec=spec, version=current.version + 1, updated_at=uow.clock()
        )
        if not uow.campaigns.update(updated):
            raise Conflict(
                "the campaign was changed meanwhile; read it again and retry",
                code="concurrent_change",
            )
        uow.campaigns.reset_streak(campaign_id)  # failures in a row count from the edit on
        uow.edrs.append(
            EdrDraft(
                "campaign.update",
                "campaign",
                str(campaign_id),
                status_before=current.spec.status.value,
                status_after=spec.status.value,
                details={"version": updated.version, "changed": sorted(changes)},
            ),
            updated.updated_at,
        )
        shown = _shown(uow, [updated])[0]
        uow.commit()
    return shown


def get_in(uow: UnitOfWork, campaign_id: uuid.UUID) -> Campaign:
    campaign = uow.campaigns.get(campaign_id)
    if campaign is None:
        raise NotFound("no such campaign", code="campaign_not_found")
    return campaign


def get_campaign(uow: UnitOfWork, campaign_id: uuid.UUID) -> Shown:
    with uow:
        return _shown(uow, [get_in(uow, campaign_id)])[0]


def list_campaigns(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[Shown]:
    with uow:
        page = uow.campaigns.list(cursor, limit)
        return Page(_shown(uow, list(page.items)), page.next_cursor)


def campaigns_of_list(uow: UnitOfWork, list_id: uuid.UUID) -> list[Shown]:
    with uow:
        if uow.lists.get(list_id) is None:
            raise NotFound("no such voucher list", code="list_not_found")
        return _shown(uow, uow.campaigns.mapped_to_list(list_id))


def define_aggregate(uow: UnitOfWork, definition: AggregateDefinition) -> AggregateDefinition:
    definition = definition.validated()
    with uow:
        if uow.aggregates.name_taken(definition.name):
            raise Conflict(f"an aggregate named '{definition.name}' exists", code="name_taken")
        uow.aggregates.add_definition(definition, uow.clock())
        uow.edrs.append(
            EdrDraft(
                "aggregate.define",
                "aggregate",
                definition.name,
                details={"event_type": definition.event_type},
            ),
            uow.clock(),
        )
        uow.commit()
    return definition


def list_aggregates(uow: UnitOfWork) -> list[AggregateDefinition]:
    with uow:
        return uow.aggregates.definitions()


def simulate(
    engine: RewardsEngine,
    uow: UnitOfWork,
    campaign_id: uuid.UUID,
    sample: list[Event] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[EventOutcome]:
    """Runs one campaign (draft or active) through the real engine in a transaction that is
    rolled back: the answer is what would happen, and no table changes. A campaign that
    does not exist (or is another tenant's) is 404, not a simulation that rewards nothing."""
    with uow:
        get_in(uow, campaign_id)
    if sample is None:
        if since is None or until is None:
            raise Invalid("since", "give sample events, or a time range (since and until)")
        with uow:
            events = list(uow.events.between(since, until))
        outcomes: list[EventOutcome] = []
        for start in range(0, len(events), 1000):
            outcomes += engine.ingest(
                uow,
                events[start : start + 1000],
                only_campaign=campaign_id,
                dry_run=True,
                stored=True,
            )
        return outcomes
    return engine.ingest(uow, sample, only_campaign=campaign_id, dry_run=True)


def settlement(
    uow: UnitOfWork, partner: str | None, since: datetime, until: datetime, period: str
) -> list[dict[str, Any]]:
    """The partner settlement; a key bound to lists (a partner's) sees only the partners of
    its lists."""
    with uow:
        rows = uow.rewards.settlement(partner, since, until, period)
        if uow.bound_lists is None:
            return rows
        partners = {
            found.spec.partner
            for found in (uow.lists.get(list_id) for list_id in uow.bound_lists)
            if found is not None
        }
        return [row for row in rows if row["partner"] in partners]


def _redeemed(serial: int) -> Conflict:
    return Conflict(
        f"the voucher this reward issued (serial {serial}) has been redeemed;"
        " ask to reverse its redemption too (reverse_redemption: true)",
        code="voucher_redeemed",
        serial=serial,
    )


def _withdraw_voucher(
    uow: UnitOfWork,
    serial: int,
    reward_id: uuid.UUID,
    reverse_redemption: bool,
    secret: bytes,
    policy: BarPolicy,
) -> dict[str, Any]:
    """Inside the reversal's transaction: the voucher the reward issued (or, if it was
    reissued, the one that replaced it) can no longer be used. Unused, it is closed; used,
    the reversal is refused (``voucher_redeemed``) unless ``reverse_redemption``, when its
    redemption is reversed (the buckets taken back, refused once spent) and it is closed.
    Each change goes through the voucher operations, with their compare-and-set and EDRs;
    a use that wins a race makes the close fail, and so the whole reversal."""
    voucher = uow.vouchers.by_serial(serial)
    for _ in range(100):  # a reissue chain is short; bounded all the same
        if voucher is None or voucher.status is not VoucherStatus.REISSUED:
            break
        voucher = uow.vouchers.replacement_of(voucher.id)
    if voucher is None:
        return {"serial": serial, "status": None, "redemption_reversed": False}
    now = uow.clock()
    why = f"reward {reward_id} reversed"
    target = Request(Target(serial=voucher.serial), reason=why)
    status = voucher.effective_status(now)
    redemption_reversed = False
    if status is VoucherStatus.USED:
        if not reverse_redemption:
            raise _redeemed(voucher.serial)
        redemption.reverse(uow, secret, target, policy)
        redemption_reversed = True
        status = VoucherStatus.AVAILABLE
    if status in sources(Operation.CLOSE):
        try:
            status = redemption.close(uow, secret, target, policy).voucher.status
        except IllegalTransition as lost:  # redeemed since it was read: the use won
            if lost.current is VoucherStatus.USED:
                raise _redeemed(voucher.serial) from None
            raise
    return {
        "serial": voucher.serial,
        "status": status.value,
        "redemption_reversed": redemption_reversed,
    }


def reverse_reward(
    uow: UnitOfWork,
    reward_id: uuid.UUID,
    reason: str | None = None,
    *,
    reverse_redemption: bool = False,
    secret: bytes = b"",  # vouchers are found by serial here: no code is hashed
    policy: BarPolicy = BarPolicy(),
) -> dict[str, Any]:
    """Undoes a reward, in one transaction: takes the credited bucket back (refused once
    spent), gives a list code back (refused once the partner saw it redeemed), withdraws an
    issued voucher (``_withdraw_voucher``), releases its cap counters and so corrects the
    partner settlement; writes the EDRs."""
    with uow:
        row = uow.rewards.get(reward_id)
        if row is None:
            raise NotFound("no such reward", code="reward_not_found")
        now = uow.clock()
        if not uow.rewards.mark_reversed(reward_id, now):
            raise Conflict("the reward is already reversed", code="reward_reversed")
        details = row["details"]
        if row["kind"] == RewardKind.CREDIT_BUCKET.value and not uow.buckets.take(
            details["bucket_id"], details["amount"]
        ):
            raise Conflict(
                "the credited balance has already been spent; the reward cannot be reversed",
                code="credit_spent",
            )
        if row["kind"] == RewardKind.LIST_CODE.value:
            if not uow.list_codes.give_back(details["code_id"]):
                raise Conflict(
                    "the partner has already seen this code redeemed; it cannot be returned",
                    code="code_redeemed",
                )
            uow.lists.count(uuid.UUID(details["list_id"]), issued=-1)
        voucher = None
        if row["kind"] == RewardKind.ISSUE_VOUCHER.value:
            voucher = _withdraw_voucher(
                uow, details["serial"], reward_id, reverse_redemption, secret, policy
            )
        campaign = get_in(uow, row["campaign_id"])
        if campaign.spec.caps.limits_total:
            uow.campaigns.release_total(campaign.id, row["cost_minor"])
        if campaign.spec.caps.per_subscriber is not None:
            uow.campaigns.release_subscriber(campaign.id, row["subscriber"], details["cap_period"])
        uow.edrs.append(
            EdrDraft(
                "reward.reverse",
                "reward",
                str(reward_id),
                status_before="granted",
                status_after="reversed",
                amount_minor=row["cost_minor"],
                currency=row["currency"],
                details={
                    "reason": reason,
                    "campaign_id": str(campaign.id),
                    "funding_partner": row["funding_partner"],
                    **({"voucher": voucher} if voucher else {}),
                },
            ),
            now,
        )
        uow.commit()
    return {**dict(row), "status": "reversed", "reversed_at": now, "voucher": voucher}
