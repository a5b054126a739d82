"""How fast the revenue report answers over a big ledger.

    python bench/reports.py --movements 300000 --store sqlite
    TESSERA_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python bench/reports.py --movements 300000 --store postgresql

A fresh database; one tenant with 20 voucher types and 50 batches; --movements revenue EDRs
(the trigger copies each into revenue_movements, as in production) spread over 90 days with
the mix of a live system (added, recognized by use and by expiry, reversed, released); then
each report shape is timed through services/reports.revenue_report (the route's code), best
and median of --runs. The issue's full figure (1,000,000 vouchers, 2,000,000 EDRs, the status,
liability and campaign reports) is not built here. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import report_store
from _harness import container_for, fresh_database
from tessera.domain.reports import Period, RevenueGrouping
from tessera.domain.revenue import Movement, revenue_edr
from tessera.services import activity_reports, reports, settlement_report
from tessera.services.liability_report import liability_report
from tessera.services.status_report import StatusGrouping, status_report
from tessera.services.tenants import create_tenant
from vouchering_bench import make_types

MIX = (
    [Movement.ADDED] * 50
    + [Movement.RECOGNIZED_BY_USE] * 35
    + [Movement.RECOGNIZED_BY_EXPIRY] * 8
    + [Movement.REVERSED] * 2
    + [Movement.RELEASED] * 5
)


def timed(runs: int, call: Callable[[], object]) -> dict[str, float]:
    spans = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        spans.append((time.perf_counter() - began) * 1000)
    return {"best_ms": round(min(spans), 1), "median_ms": round(statistics.median(spans), 1)}


def every_report(args: argparse.Namespace) -> None:
    """The issue's store (--vouchers, --edrs), then each report's answer time."""
    with fresh_database(args.store) as url:
        container = container_for(url)
        tid = create_tenant(container.directory(), "bench")[0].id
        began = time.perf_counter()
        built = report_store.build(container, tid, vouchers=args.vouchers, edrs=args.edrs,
                                   rewards=args.rewards, codes=args.codes)  # fmt: skip
        build_seconds = time.perf_counter() - began
        print(f"built {built} in {build_seconds:.0f} s", flush=True)
        uow = lambda: container.uow(tid)  # noqa: E731
        now, since = container.clock(), built["since"]
        span = (since, now)
        calls: dict[str, Callable[[], object]] = {
            "status now by type": lambda: status_report(uow(), None, StatusGrouping.TYPE),
            "status now by batch": lambda: status_report(uow(), None, StatusGrouping.BATCH),
            "status as of 30 days ago": lambda: status_report(uow(), now - timedelta(days=30)),
            "status as of 89 days ago": lambda: status_report(uow(), now - timedelta(days=89)),
            "liability now": lambda: liability_report(uow(), None),
            "liability as of 45 days ago": lambda: liability_report(
                uow(), now - timedelta(days=45)
            ),
            "campaigns by day, 90 days": lambda: activity_reports.campaign_report(uow(), *span),
            "lists by day, 90 days": lambda: activity_reports.list_report(uow(), *span),
            "settlement, open period": lambda: settlement_report.statements(uow(), *span),
            "revenue by day and type, 60 days": lambda: reports.revenue_report(
                uow(), now - timedelta(days=60), now, Period.DAY, RevenueGrouping.TYPE
            ),
        }
        # The rewound counts are the store's own: none below zero, the total as built.
        oldest = status_report(uow(), now - timedelta(days=89), StatusGrouping.BATCH)
        assert min(min(ln.counts.values()) for ln in oldest.lines) >= 0, "rewound below zero"
        timings = {}
        for name, call in calls.items():
            timings[name] = timed(args.runs, call)
            print(f"{name:36} best {timings[name]['best_ms']:8.1f} ms   median "
                  f"{timings[name]['median_ms']:8.1f} ms", flush=True)  # fmt: skip
        began = time.perf_counter()
        settlement_report.close_period(uow(), now - timedelta(days=30))
        timings["settlement close of 60 days"] = {
            "best_ms": round((time.perf_counter() - began) * 1000, 1)
        }
        timings["settlement after the close"] = timed(
            args.runs, lambda: settlement_report.statements(uow(), *span)
        )
        for name in ("settlement close of 60 days", "settlement after the close"):
            print(f"{name:36} best {timings[name]['best_ms']:8.1f} ms", flush=True)
        container.close()
    print(json.dumps({
        "store": args.store, **{k: v for k, v in built.items() if k != "since"},
        "build_seconds": round(build_seconds), "reports": timings, "load": os.getloadavg()[0],
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movements", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--vouchers", type=int, default=0, help="build the issue's store, time every report"
    )
    parser.add_argument("--edrs", type=int, default=2_000_000)
    parser.add_argument("--rewards", type=int, default=200_000)
    parser.add_argument("--codes", type=int, default=200_000)
    args = parser.parse_args()
    if args.vouchers:
        every_report(args)
        return
    rng = random.Random(16)
    with fresh_database(args.store) as url:
        container = container_for(url)
        tid = create_tenant(container.directory(), "bench")[0].id
        types = make_types(container, tid, 20)
        batches = [(uuid.uuid4(), types[i % 20]) for i in range(50)]
        start = container.clock() - timedelta(days=90)
        loaded = time.perf_counter()
        for chunk in range(0, args.movements, 5000):
            drafts = []
            for _ in range(min(5000, args.movements - chunk)):
                batch_id, (type_id, cost) = rng.choice(batches)
                draft = revenue_edr(
                    rng.choice(MIX), cost_minor=cost, currency="KES", voucher_type_id=type_id,
                    batch_id=batch_id, subject_type="voucher", subject_id=str(rng.randrange(10**9)),
                    effective_at=start + timedelta(seconds=rng.randrange(90 * 86400)),
                    cause="bench",
                )  # fmt: skip
                assert draft is not None
                drafts.append(draft)
            with container.uow(tid) as uow:
                uow.edrs.append_many(drafts, container.clock())
                uow.commit()
        load_seconds = time.perf_counter() - loaded
        if args.store == "postgresql":
            with container.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE revenue_movements")
        until = container.clock()
        shapes = {
            f"{period.value}/{group.value}": (period, group)
            for period in Period
            for group in RevenueGrouping
        }
        timings = {}
        for name, (period, group) in shapes.items():
            spans = []
            for _ in range(args.runs):
                began = time.perf_counter()
                reports.revenue_report(
                    container.uow(tid), start + timedelta(days=30), until, period, group
                )
                spans.append((time.perf_counter() - began) * 1000)
            timings[name] = {"best_ms": round(min(spans), 1),
                             "median_ms": round(statistics.median(spans), 1)}  # fmt: skip
            print(
                f"{name:16} best {min(spans):8.1f} ms   median {statistics.median(spans):8.1f} ms"
            )
        container.close()
    result = {
        "store": args.store, "movements": args.movements, "load_seconds": round(load_seconds, 1),
        "revenue_report": timings, "load": os.getloadavg()[0],
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
