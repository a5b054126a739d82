"""Rewards engine figures. Prints one JSON line per figure:

(a) in-process evaluation: events/s with 100 active campaigns over 5 event types;
(b) end to end through the batch API (real server, dedupe, aggregates, rewards persisted);
(c) p99 latency from event sent to reward committed (the answer) at a steady 2,000 events/s.

(b) and (c) drive a real ``tessera serve`` with the lean load generator in ``_load.py``,
after a warm-up that reaches every worker. In (c) a charging system sends what it collected
every 25 ms: requests of 50 events (``--steady-batch``), 40 a second, on an open loop (a
request is due on schedule whatever the answers do; its latency counts from when it was
due). The answer comes after the commit, so it means the rewards are committed.

    python bench/events.py --store postgresql   # TESSERA_TEST_POSTGRES_URL names the server
    python bench/events.py --store sqlite --workers 1   # one writer: see bench/RESULTS-events.md
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime, timedelta
from functools import partial

from _harness import container_for, fresh_database, percentile, running_server
from _load import closed_loop, encode, open_loop, run
from tessera.adapters.expressions import (
    EvaluationContext,
    Screen,
    compile_condition,
    merge_uses,
    uses_of,
)
from tessera.domain.aggregates import AggregateDefinition, Function, Window
from tessera.domain.campaigns import CampaignSpec, CampaignStatus, RewardKind, RewardSpec
from tessera.services import campaigns
from tessera.services.tenants import create_tenant

TYPES = ["usage.data", "usage.voice", "usage.sms", "topup", "balance.changed"]
TIERS = ["bronze", "silver", "gold", "platinum"]
START = datetime(2026, 11, 23, tzinfo=UTC)


def conditions(n: int = 100) -> list[tuple[str, str]]:
    """(event type, condition): 20 per type, selective like real campaigns (~1-2 % rewarded)."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        kind = TYPES[i % len(TYPES)]
        tier = TIERS[rng.randrange(len(TIERS))]
        threshold = rng.randrange(980, 1000)
        out.append(
            (
                kind,
                f"event.attributes.amount > {threshold} && subscriber.tier == '{tier}' "
                f"&& agg.amount_day >= {threshold}",
            )
        )
    return out


def event(i: int, rng: random.Random) -> dict:
    return {
        "id": f"ev-{i}",
        "subscriber": f"2547{rng.randrange(10_000):08d}",
        "type": TYPES[i % len(TYPES)],
        "occurred_at": (START + timedelta(milliseconds=i)).isoformat(),
        "attributes": {"amount": rng.randrange(1000)},
    }


def bench_in_process(count: int) -> dict:
    """As the engine evaluates: one context per event, holding only what the event type's
    conditions read, shared by the type's 20 campaigns and their screen; the subscriber and
    the aggregates are handed over only if the event alone does not settle it."""
    programs: dict[str, list] = {t: [] for t in TYPES}
    sources: dict[str, list[str]] = {t: [] for t in TYPES}
    for i, (kind, source) in enumerate(conditions()):
        programs[kind].append((f"c{i}", compile_condition(source)))
        sources[kind].append(source)
    uses = {t: merge_uses([uses_of(s) for s in sources[t]]) for t in TYPES}
    screens = {t: Screen([p for _c, p in programs[t]]) for t in TYPES}
    rng = random.Random(1)
    events = [event(i, rng) for i in range(count)]
    matched = 0
    started = time.perf_counter()
    for e in events:
        context = EvaluationContext(
            e,
            {"tier": TIERS[int(e["subscriber"]) % 4]},
            partial(dict, amount_day=e["attributes"]["amount"]),  # as the engine's view
            START,
            uses[e["type"]],
        )
        matched += len(context.matching(programs[e["type"]], screens[e["type"]]))
    seconds = time.perf_counter() - started
    return {
        "bench": "events", "figure": "in_process_evaluation", "campaigns": 100, "event_types": 5,
        "events": count, "matched": matched, "seconds": round(seconds, 3),
        "events_per_s": round(count / seconds),
    }  # fmt: skip


def prepare(url: str) -> str:
    container = container_for(url)
    tenant, key = create_tenant(container.directory(), "bench")
    uow = lambda: container.uow(tenant.id)  # noqa: E731
    campaigns.define_aggregate(
        uow(), AggregateDefinition("amount_day", "usage.data", Function.SUM, Window.DAY, "amount")
    )
    for kind in TYPES[1:]:
        campaigns.define_aggregate(
            uow(),
            AggregateDefinition(f"n_{kind.replace('.', '_')}", kind, Function.COUNT, Window.DAY),
        )
    reward = RewardSpec(
        RewardKind.CREDIT_BUCKET, balance_type="data_mb", amount=100, validity_days=7
    )
    for i, (kind, source) in enumerate(conditions()):
        campaigns.create_campaign(
            uow(),
            CampaignSpec(
                name=f"c{i}", trigger_types=(kind,), condition=source, rewards=(reward,),
                status=CampaignStatus.ACTIVE, funding_partner="Partner", cost_per_reward_minor=10,
                currency="EUR",
            ),
        )  # fmt: skip
    with container.engine.begin() as conn:  # subscribers with profiles, as an operator loads them
        from tessera.adapters.db.tables import subscribers
        from tessera.domain.ids import new_id

        rng = random.Random(3)
        conn.execute(
            subscribers.insert(),
            [
                {
                    "id": new_id(), "tenant_id": tenant.id, "external_id": f"2547{n:08d}",
                    "attributes": {"tier": TIERS[rng.randrange(4)]}, "service_state": "active",
                    "created_at": START, "updated_at": START,
                }
                for n in range(10_000)
            ],
        )  # fmt: skip
    container.close()
    return key


def rewards_in(bodies: list[bytes]) -> int:
    return sum(len(r["rewards"]) for b in bodies for r in json.loads(b)["results"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--events", type=int, default=200_000, help="events sent end to end")
    parser.add_argument("--in-process-events", type=int, default=100_000)
    parser.add_argument("--in-process-only", action="store_true", help="only figure (a)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=2000, help="events/s in (c)")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--steady-batch", type=int, default=50, help="events per request in (c)")
    args = parser.parse_args()

    print(json.dumps(bench_in_process(args.in_process_events)), flush=True)
    if args.in_process_only:
        return
    with fresh_database(args.store) as url:
        key = prepare(url)
        rng = random.Random(5)
        warm_count = 2 * args.batch * args.clients
        total = warm_count + args.events
        events = [event(i, rng) for i in range(total)]

        def bodies(chunk: list[dict], size: int) -> list[bytes]:
            return [encode({"events": chunk[i : i + size]}) for i in range(0, len(chunk), size)]

        warm = bodies(events[:warm_count], args.batch)
        batches = bodies(events[warm_count:], args.batch)
        n_steady = int(args.rate * args.rate_seconds)
        steady_events = [event(total + i, rng) for i in range(n_steady)]
        steady = bodies(steady_events, args.steady_batch)
        headers = {"Authorization": f"Bearer {key}"}
        # The key cache saves a lookup per request; a revoked key may work for 5 s more.
        settings = {
            "TESSERA_DB_POOL_SIZE": str(max(args.clients, 8)),
            "TESSERA_KEY_CACHE_SECONDS": "5",
        }
        path = "/v1/events"
        with running_server(url, workers=args.workers, settings=settings) as base:
            run(lambda: closed_loop(base, path, warm, args.clients, headers))
            closed = run(
                lambda: closed_loop(base, path, batches, args.clients, headers, keep_bodies=True)
            )
            end_to_end = {
                "bench": "events", "figure": "end_to_end_batch_api", "store": args.store,
                "events": args.events, "batch": args.batch, "clients": args.clients,
                "workers": args.workers, "rewards": rewards_in(closed.bodies),
                "seconds": round(closed.elapsed, 2),
                "events_per_s": round(args.events / closed.elapsed), "errors": closed.errors,
                "p99_batch_ms": round(percentile(closed.latencies, 99) * 1000, 1),
            }  # fmt: skip
            print(json.dumps(end_to_end), flush=True)
            rated = run(
                lambda: open_loop(base, path, steady, args.rate / args.steady_batch, headers)
            )
            latency = {
                "bench": "events", "figure": "latency_at_steady_rate", "store": args.store,
                "rate_per_s": args.rate, "batch": args.steady_batch, "events": n_steady,
                "p50_ms": round(percentile(rated.latencies, 50) * 1000, 1),
                "p99_ms": round(percentile(rated.latencies, 99) * 1000, 1),
                "max_ms": round(max(rated.latencies) * 1000, 1), "errors": rated.errors,
            }  # fmt: skip
            print(json.dumps(latency), flush=True)


if __name__ == "__main__":
    main()
