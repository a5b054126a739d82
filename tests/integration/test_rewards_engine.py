"""The rewards engine on each store: dedupe, aggregates at window edges, caps and budgets
under concurrency, run-time condition failures, simulation with no side effects, reversal."""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tessera.adapters.db.tables import metadata
from tessera.domain.aggregates import AggregateDefinition, Function, Window
from tessera.domain.campaigns import (
    CampaignFigures,
    CampaignSpec,
    CampaignStatus,
    CapPeriod,
    Caps,
    RewardKind,
    RewardSpec,
)
from tessera.domain.errors import Conflict
from tessera.domain.events import Event
from tessera.services import campaigns, wallets

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DATA_100 = RewardSpec(RewardKind.CREDIT_BUCKET, balance_type="data_mb", amount=100, validity_days=7)


def spec(name="bonus", condition="true", **kwargs):
    values = {
        "name": name,
        "trigger_types": ("usage.data",),
        "condition": condition,
        "rewards": (DATA_100,),
        "status": CampaignStatus.ACTIVE,
    }
    return CampaignSpec(**{**values, **kwargs})


def ev(i, subscriber="254700000001", at=T0, mb=10, type_="usage.data"):
    return Event(f"e{i}", subscriber, type_, at, {"mb": mb})


@pytest.fixture
def uow(container, tenant):
    return lambda: container.uow(tenant[0])


def ingest(container, uow, events):
    return container.rewards.ingest(uow(), events)


def test_a_repeated_event_id_is_ignored_and_the_answer_says_so(container, uow):
    campaigns.create_campaign(uow(), spec())
    first = ingest(container, uow, [ev(1), ev(1)])
    assert [(o.duplicate, len(o.rewards)) for o in first] == [(False, 1), (True, 0)]
    again = ingest(container, uow, [ev(1), ev(2)])
    assert [(o.duplicate, len(o.rewards)) for o in again] == [(True, 0), (False, 1)]
    assert wallets.get_wallet(uow(), "254700000001").totals(T0) == {"data_mb": 200}


def test_aggregates_cut_at_the_end_of_the_day_and_month_in_utc(container, uow):
    campaigns.define_aggregate(
        uow(), AggregateDefinition("mb_day", "usage.data", Function.SUM, Window.DAY, "mb")
    )
    campaigns.define_aggregate(
        uow(), AggregateDefinition("mb_month", "usage.data", Function.SUM, Window.MONTH, "mb")
    )
    campaigns.define_aggregate(
        uow(),
        AggregateDefinition("mb_2d", "usage.data", Function.SUM, Window.ROLLING_DAYS, "mb", days=2),
    )
    campaigns.define_aggregate(
        uow(), AggregateDefinition("max_mb", "usage.data", Function.MAX, Window.MONTH, "mb")
    )
    campaigns.create_campaign(uow(), spec("day", "agg.mb_day >= 100"))
    campaigns.create_campaign(uow(), spec("month", "agg.mb_month >= 150"))
    campaigns.create_campaign(uow(), spec("rolling", "agg.mb_2d >= 120"))
    campaigns.create_campaign(uow(), spec("max", "agg.max_mb >= 90"))
    last_second = datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC)
    midnight = datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC)
    results = ingest(container, uow, [ev(1, at=last_second, mb=60)])
    results += ingest(
        container, uow, [ev(2, at=midnight, mb=60), ev(3, at=midnight + timedelta(hours=1), mb=90)]
    )
    won = [sorted(r.campaign for r in o.rewards) for o in results]
    # e1: 60 today, 60 this month. e2: a new day and a new month (60), but rolling 2 days = 120.
    # e3: 150 today, 150 this month, 210 rolling, max 90.
    assert won == [[], ["rolling"], ["day", "max", "month", "rolling"]]


def test_an_event_sees_the_stored_aggregates_and_every_earlier_event_of_its_batch(container, uow):
    """Events that no campaign can want on their own attributes are screened out before the
    aggregates are read; what they add must still count for the events after them."""
    campaigns.define_aggregate(
        uow(), AggregateDefinition("mb_day", "usage.data", Function.SUM, Window.DAY, "mb")
    )
    campaigns.define_aggregate(
        uow(), AggregateDefinition("min_mb", "usage.data", Function.MIN, Window.DAY, "mb")
    )
    campaigns.create_campaign(
        uow(), spec("big", "event.attributes.mb > 50 && agg.mb_day >= 150 && agg.min_mb == 5")
    )
    other = "254700000002"
    assert not ingest(container, uow, [ev(1, mb=5)])[0].rewards  # stored: 5, min 5
    results = ingest(
        container,
        uow,
        [
            ev(2, mb=30),  # screened out: 35
            ev(3, mb=60),  # 95: not yet
            ev(4, subscriber=other, mb=70),  # another subscriber's day: 70
            ev(5, mb=10),  # screened out: 105
            ev(6, mb=51),  # 156 (116 without the screened-out ones), min still the stored 5
            ev(7, subscriber=other, mb=90),  # 160, but its min is 70
        ],
    )
    assert [bool(o.rewards) for o in results] == [False, False, False, False, True, False]


def test_total_cap_and_budget_never_over_issue_under_concurrency(container, uow):
    capped, _ = campaigns.create_campaign(uow(), spec("capped", caps=Caps(total_rewards=7)))
    budget, _ = campaigns.create_campaign(
        uow(),
        spec(
            "budget",
            caps=Caps(total_budget_minor=500),
            cost_per_reward_minor=100,
            currency="EUR",
            funding_partner="Acme",
        ),
    )

    def send(i):
        return ingest(container, uow, [ev(i, subscriber=f"s{i}")])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [o for batch in pool.map(send, range(40)) for o in batch]
    by_campaign = {}
    for o in results:
        for r in o.rewards:
            by_campaign[r.campaign] = by_campaign.get(r.campaign, 0) + 1
    assert by_campaign == {"capped": 7, "budget": 5}
    assert campaigns.get_campaign(uow(), capped.id)[1] == CampaignFigures(7, 0)
    assert campaigns.get_campaign(uow(), budget.id)[1] == CampaignFigures(5, 500)


def test_per_subscriber_cap_counts_per_period(container, uow):
    campaigns.create_campaign(
        uow(), spec(caps=Caps(per_subscriber=2, per_subscriber_period=CapPeriod.DAY))
    )
    day1 = ingest(container, uow, [ev(i, at=T0 + timedelta(minutes=i)) for i in range(4)])
    day2 = ingest(
        container, uow, [ev(10 + i, at=T0 + timedelta(days=1, minutes=i)) for i in range(3)]
    )
    assert sum(len(o.rewards) for o in day1) == 2
    assert sum(len(o.rewards) for o in day2) == 2


def test_a_condition_failing_at_run_time_does_not_match_and_never_stops_the_batch(container, uow):
    campaigns.create_campaign(uow(), spec("typed", "event.attributes.mb > 5", priority=1))
    campaigns.create_campaign(uow(), spec("always", "true", priority=2))
    bad = Event("bad", "s1", "usage.data", T0, {"mb": "not a number"})
    results = ingest(container, uow, [bad, ev(2, subscriber="s2")])
    assert [sorted(r.campaign for r in o.rewards) for o in results] == [
        ["always"],
        ["always", "typed"],
    ]


def test_campaign_schedule_and_status_decide_who_is_live(container, uow):
    campaigns.create_campaign(uow(), spec("later", starts_at=T0 + timedelta(days=1)))
    campaigns.create_campaign(uow(), spec("draft", status=CampaignStatus.DRAFT))
    paused, _ = campaigns.create_campaign(uow(), spec("paused"))
    campaigns.update_campaign(uow(), paused.id, {"status": CampaignStatus.PAUSED})
    assert ingest(container, uow, [ev(1)])[0].rewards == []
    assert [
        r.campaign for r in ingest(container, uow, [ev(2, at=T0 + timedelta(days=2))])[0].rewards
    ] == ["later"]


def test_an_edited_condition_applies_to_the_next_event(container, uow):
    c, _ = campaigns.create_campaign(uow(), spec(condition="event.attributes.mb > 100"))
    assert ingest(container, uow, [ev(1, mb=50)])[0].rewards == []
    campaigns.update_campaign(uow(), c.id, {"condition": "event.attributes.mb > 10"})
    assert len(ingest(container, uow, [ev(2, mb=50)])[0].rewards) == 1


def test_a_campaign_paused_after_it_rewarded_rewards_no_more(container, uow):
    """Campaigns are cached per process; the (id, version) check each batch makes catches
    a status change at once."""
    c, _ = campaigns.create_campaign(uow(), spec())
    assert len(ingest(container, uow, [ev(1)])[0].rewards) == 1
    campaigns.update_campaign(uow(), c.id, {"status": CampaignStatus.PAUSED})
    assert ingest(container, uow, [ev(2)])[0].rewards == []
    campaigns.update_campaign(uow(), c.id, {"status": CampaignStatus.ACTIVE})
    assert len(ingest(container, uow, [ev(3)])[0].rewards) == 1


def _snapshot(container, tenant_id):
    """Every table's rows of the tenant (all rows of the two tables above tenancy): the
    PostgreSQL database is shared by the whole session's tests, whose rows do not matter."""
    digest = {}
    with container.engine.connect() as conn:
        for table in metadata.sorted_tables:
            query = sa.select(table)
            if "tenant_id" in table.c:
                query = query.where(table.c.tenant_id == tenant_id)
            rows = conn.execute(query).all()
            digest[table.name] = hashlib.sha256(
                json.dumps(sorted(map(str, rows))).encode()
            ).hexdigest()
    return digest


def test_simulation_leaves_every_table_unchanged(container, uow, tenant):
    campaigns.define_aggregate(
        uow(), AggregateDefinition("mb_day", "usage.data", Function.SUM, Window.DAY, "mb")
    )
    c, _ = campaigns.create_campaign(
        uow(),
        spec(
            condition="agg.mb_day >= 20",
            status=CampaignStatus.DRAFT,
            caps=Caps(total_rewards=1),
            cost_per_reward_minor=50,
            currency="EUR",
        ),
    )
    ingest(container, uow, [ev(100, mb=5)])
    before = _snapshot(container, tenant[0])
    outcome = campaigns.simulate(
        container.rewards, uow(), c.id, [ev(1, mb=10), ev(2, mb=10), ev(3, mb=10)]
    )
    assert [len(o.rewards) for o in outcome] == [0, 1, 0]  # the cap of 1 holds in simulation too
    replay = campaigns.simulate(
        container.rewards, uow(), c.id, since=T0 - timedelta(days=1), until=T0 + timedelta(days=1)
    )
    assert [o.id for o in replay] == ["e100"]
    assert _snapshot(container, tenant[0]) == before


def test_reversing_a_reward_takes_the_credit_back_and_corrects_settlement(container, uow):
    c, _ = campaigns.create_campaign(
        uow(),
        spec(
            cost_per_reward_minor=250,
            currency="EUR",
            funding_partner="Acme",
            caps=Caps(per_subscriber=1),
        ),
    )
    reward = ingest(container, uow, [ev(1)])[0].rewards[0]
    window = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert campaigns.settlement(uow(), "Acme", *window, "day")[0]["amount_minor"] == 250
    campaigns.reverse_reward(uow(), reward.reward_id, "customer complaint")
    row = campaigns.settlement(uow(), "Acme", *window, "day")[0]
    assert (row["rewards"], row["amount_minor"], row["reversed"]) == (0, 0, 1)
    assert wallets.get_wallet(uow(), "254700000001").totals(T0) == {}
    assert campaigns.get_campaign(uow(), c.id)[1] == CampaignFigures(0, 0)
    assert (
        len(ingest(container, uow, [ev(2)])[0].rewards) == 1
    )  # the per-subscriber cap was released
    with pytest.raises(Conflict):
        campaigns.reverse_reward(uow(), reward.reward_id)


def test_a_reward_whose_credit_was_spent_cannot_be_reversed(container, uow):
    campaigns.create_campaign(uow(), spec())
    reward = ingest(container, uow, [ev(1)])[0].rewards[0]
    wallets.adjust_wallet(uow(), "254700000001", "debit", "data_mb", 60)
    with pytest.raises(Conflict) as caught:
        campaigns.reverse_reward(uow(), reward.reward_id)
    assert caught.value.code == "credit_spent"


def _list(uow, name, codes):
    import io

    from tessera.domain.lists import ListSpec
    from tessera.services import lists
    from tessera.services.list_upload import upload_codes

    vl = lists.create_list(uow(), ListSpec(partner="CinemaCo", name=name))
    upload_codes(uow(), vl.id, io.BytesIO(("code\n" + "".join(f"{c}\n" for c in codes)).encode()))
    return vl


def test_list_codes_fall_back_to_the_next_list_and_stop_when_all_run_out(container, uow):
    from tessera.services import lists

    first, second = _list(uow, "first", ["F1"]), _list(uow, "second", ["S1"])
    code = RewardSpec(RewardKind.LIST_CODE, list_ids=(first.id, second.id))
    campaigns.create_campaign(
        uow(),
        spec(
            rewards=(code, DATA_100),
            cost_per_reward_minor=40,
            currency="EUR",
            funding_partner="CinemaCo",
        ),
    )
    results = ingest(
        container, uow, [ev(1, subscriber="s1"), ev(2, subscriber="s2"), ev(3, subscriber="s3")]
    )
    given = [[r.details.get("list") for r in o.rewards if r.kind == "list_code"] for o in results]
    assert given == [["first"], ["second"], []]
    # the code itself goes to the subscriber by the tenant's webhook, never in the answer
    assert all("code" not in r.details for o in results for r in o.rewards)
    assert [len(o.rewards) for o in results] == [
        2,
        2,
        0,
    ]  # no code, no reward at all: all or nothing
    assert lists.get_list(uow(), first.id).utilization.issued == 1
    assert wallets.get_wallet(uow(), "s3").totals(T0) == {}  # the credit went with it
    window = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert campaigns.settlement(uow(), "CinemaCo", *window, "day")[0]["amount_minor"] == 80


def test_a_reversed_list_code_reward_returns_the_code_to_its_list(container, uow):
    from tessera.services import lists

    only = _list(uow, "only", ["C1"])
    campaigns.create_campaign(
        uow(), spec(rewards=(RewardSpec(RewardKind.LIST_CODE, list_ids=(only.id,)),))
    )
    reward = ingest(container, uow, [ev(1, subscriber="s1")])[0].rewards[0]
    first_code = reward.details["code_id"]  # the answer names the code; the webhook carries it
    campaigns.reverse_reward(uow(), reward.reward_id)
    assert lists.get_list(uow(), only.id).utilization.issued == 0
    again = ingest(container, uow, [ev(2, subscriber="s2")])[0].rewards[0]
    assert again.details["code_id"] == first_code


def test_reward_records_never_keep_a_partner_code_in_clear(container, uow):
    only = _list(uow, "only", ["SECRET-CODE-1"])
    campaigns.create_campaign(
        uow(), spec(rewards=(RewardSpec(RewardKind.LIST_CODE, list_ids=(only.id,)),))
    )
    ingest(container, uow, [ev(1)])
    with container.engine.connect() as conn:
        for table in ("rewards", "edrs"):
            text = " ".join(str(r) for r in conn.execute(sa.text(f"SELECT * FROM {table}")))
            assert "SECRET-CODE-1" not in text, table


def test_an_issued_voucher_reward_returns_its_code_once_and_the_code_redeems(
    container, uow, tenant
):
    from datetime import timedelta as td

    from tessera.domain.vouchers import BarPolicy
    from tessera.services import redemption
    from vouchering import by_code, make_type

    type_id = make_type(container, tenant[0])
    campaigns.create_campaign(
        uow(), spec(rewards=(RewardSpec(RewardKind.ISSUE_VOUCHER, voucher_type_id=type_id),))
    )
    reward = ingest(container, uow, [ev(1, subscriber="254700000042")])[0].rewards[0]
    code = reward.details["code"]
    with container.engine.connect() as conn:
        stored = " ".join(str(r) for r in conn.execute(sa.text("SELECT details FROM rewards")))
    assert code not in stored
    policy = BarPolicy(threshold=5, window=td(minutes=15), period=td(minutes=30))
    outcome = redemption.redeem(uow(), container.code_secret, by_code(code, "254700000042"), policy)
    assert outcome.voucher.serial == reward.details["serial"]


def test_a_condition_reads_the_wallet_as_its_usable_balance_per_type(container, uow):
    # 100 MB per event while the wallet holds under 250: the third event finds 200 (+100)
    # and is rewarded, the fourth finds 300 and is not; an expired bucket counts for nothing.
    created, _figures = campaigns.create_campaign(uow(), spec("topup", "wallet.data_mb < 250"))
    ingest(container, uow, [ev(1), ev(2)])
    ingest(container, uow, [ev(3)])
    assert wallets.get_wallet(uow(), "254700000001").totals(T0) == {"data_mb": 300}
    [late] = ingest(container, uow, [ev(4)])
    assert late.rewards == []
    # a subscriber with no wallet at all has 0 of every type it names: matched, no failure
    [fresh] = ingest(container, uow, [ev(5, subscriber="254700000009")])
    assert [r.campaign for r in fresh.rewards] == ["topup"]
    _campaign, figures = campaigns.get_campaign(uow(), created.id)
    assert figures.failures is None or figures.failures.count == 0


def test_the_wallet_a_condition_reads_leaves_out_expired_buckets(container, uow, clock):
    campaigns.create_campaign(uow(), spec("refill", "wallet.data_mb == 0"))
    [first] = ingest(container, uow, [ev(1)])  # empty wallet: rewarded 100 MB for 7 days
    assert len(first.rewards) == 1
    [second] = ingest(container, uow, [ev(2)])
    assert second.rewards == []
    clock.advance(days=8)  # the credit has expired: the wallet is empty again
    [third] = ingest(container, uow, [ev(3, at=clock())])
    assert len(third.rewards) == 1
