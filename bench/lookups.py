"""Customer care's lookups over HTTP with 1,000,000 vouchers in the store: p50 and p99 of each.

    python bench/lookups.py --store sqlite
    TESSERA_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python bench/lookups.py --store postgresql

Builds, in a fresh database: a batch of --vouchers (generated, hashed and stored as
`tessera batch create` does, then activated), 200 vouchers of a second type outside any
batch, --redeemed of the batch's vouchers redeemed by --subscribers subscribers (bulk
updates), an EDR per redemption plus --edrs of others (bulk inserts through the EDR
repository, so each carries the subscriber it is about), --rewards rewards of two campaigns,
an aggregate value and a cap count per subscriber. Then `tessera serve` (2 workers) answers
--requests requests of each lookup, one at a time, each with its own random subscriber,
last four characters or serial. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from _harness import CODE_SECRET, Steal, fresh_database, percentile, running_server
from tessera.adapters.db import tables as t
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.domain.batches import BatchOperation, BatchRequest
from tessera.domain.catalog import BucketTemplate, VoucherTypeSpec
from tessera.domain.codes import CodeFormat
from tessera.domain.edr import EdrDraft
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.services import batches, catalog
from tessera.services.issuing import issue_voucher
from tessera.services.tenants import create_tenant

CHUNK = 20_000


def msisdn(i: int) -> str:
    return f"2547{i:08d}"


def build_store(url: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    settings = Settings(database_url=url, code_secret=SecretStr(CODE_SECRET))
    container = build(settings)
    tenant, key = create_tenant(container.directory(), "bench")
    uow = lambda: container.uow(tenant.id)  # noqa: E731
    rules = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=90)
    lifecycle = catalog.create_lifecycle(uow(), "90 days", rules)
    common = catalog.create_voucher_type(
        uow(),
        VoucherTypeSpec("Airtime", 100_00, "KES", lifecycle.id, (BucketTemplate("airtime", 1),)),
    )
    rare = catalog.create_voucher_type(
        uow(), VoucherTypeSpec("Rare", 5_00, "KES", lifecycle.id, (BucketTemplate("sms", 1),))
    )
    started = time.perf_counter()
    loose = []
    with uow() as u:
        for _ in range(100):  # half before the batch's serials, half after
            loose.append(issue_voucher(u, rare.id, container.code_secret)[0].serial)
        u.commit()
    batch = batches.create_batch(uow(), BatchRequest(common.id, args.vouchers, CodeFormat()), tmp)
    batch = batches.generate_batch(uow(), batch.id, container.code_secret)
    batches.operate(uow(), batch.id, BatchOperation.ACTIVATE)
    with uow() as u:
        for _ in range(100):
            loose.append(issue_voucher(u, rare.id, container.code_secret)[0].serial)
        u.commit()
    generated = time.perf_counter() - started
    first, last = batch.serials.first, batch.serials.last

    rng = random.Random(7)
    now = datetime.now(UTC)
    subscriber_ids = {msisdn(i): uuid.uuid4() for i in range(args.subscribers)}
    engine = container.engine
    with engine.begin() as conn:
        rows = [
            {"id": sid, "tenant_id": tenant.id, "external_id": ext, "attributes": {},
             "service_state": "active", "created_at": now, "updated_at": now}
            for ext, sid in subscriber_ids.items()
        ]  # fmt: skip
        for i in range(0, len(rows), CHUNK):
            conn.execute(sa.insert(t.subscribers), rows[i : i + CHUNK])
    # Redemptions: --redeemed serials of the batch, each to a random subscriber.
    redeemed = rng.sample(range(first, last + 1), args.redeemed)
    holders = [msisdn(rng.randrange(args.subscribers)) for _ in redeemed]
    with engine.begin() as conn:
        stmt = (
            sa.update(t.vouchers)
            .where(
                t.vouchers.c.tenant_id == tenant.id,
                t.vouchers.c.serial == sa.bindparam("s"),
            )
            .values(
                status="used",
                subscriber_id=sa.bindparam("sid"),
                status_changed_at=sa.bindparam("at"),
            )
        )
        pairs = [
            {"s": s, "sid": subscriber_ids[h], "at": now - timedelta(minutes=rng.randrange(40_000))}
            for s, h in zip(redeemed, holders, strict=True)
        ]
        for i in range(0, len(pairs), CHUNK):
            conn.execute(stmt, pairs[i : i + CHUNK])
    # EDRs: one per redemption, then others about random subscribers, in CHUNK-row inserts.
    drafts = [
        EdrDraft("voucher.redeem", "voucher", str(s), "available", "used", 100_00, "KES",
                 {"subscriber": h, "voucher_type": "Airtime"})
        for s, h in zip(redeemed, holders, strict=True)
    ]  # fmt: skip
    operations = ("wallet.credit", "voucher.validate_failed", "subscriber.update")
    for _ in range(args.edrs):
        who = msisdn(rng.randrange(args.subscribers))
        op = rng.choice(operations)
        drafts.append(
            EdrDraft(op, "caller", f"subscriber:{who}")
            if op == "voucher.validate_failed"
            else EdrDraft(op, "subscriber", who, amount_minor=1 if op == "wallet.credit" else None)
        )
    rng.shuffle(drafts)
    for i in range(0, len(drafts), CHUNK):
        with uow() as u:
            u.edrs.append_many(drafts[i : i + CHUNK], now - timedelta(seconds=len(drafts) - i))
            u.commit()
    built = time.perf_counter() - started
    container.close()
    return {
        "tenant": tenant.id,
        "key": key,
        "batch": batch.id,
        "first": first,
        "last": last,
        "common_type": common.id,
        "rare_type": rare.id,
        "holders": holders,
        "generated_s": round(generated, 1),
        "built_s": round(built, 1),
        "edrs": len(drafts),
    }


def seed_rewards(base: str, url: str, built: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Two campaigns and an aggregate through the API, then rewards, aggregate values and cap
    counts in bulk."""
    h = {"Authorization": f"Bearer {built['key']}"}
    with httpx.Client(base_url=base, headers=h, timeout=60) as api:
        agg = {"name": "data_mb_month", "event_type": "usage.data", "function": "sum",
               "attribute": "mb", "window": "month"}  # fmt: skip
        assert api.post("/v1/aggregates", json=agg).status_code == 201
        campaigns = []
        for name in ("Welcome", "Data bonus"):
            body = {"name": name, "trigger_types": ["usage.data"],
                    "condition": "agg.data_mb_month >= 1000", "status": "active",
                    "rewards": [{"kind": "credit_bucket", "balance_type": "data_mb",
                                 "amount": 100}],
                    "caps": {"per_subscriber": 3, "per_subscriber_period": "month"}}  # fmt: skip
            answer = api.post("/v1/campaigns", json=body)
            assert answer.status_code == 201, answer.text
            campaigns.append(answer.json()["id"])
    rng = random.Random(11)
    now = datetime.now(UTC)
    month = now.strftime("%Y-%m")
    tenant = built["tenant"]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        rewards = []
        for i in range(args.rewards):
            rewards.append(
                {"id": uuid.uuid4(), "tenant_id": tenant,
                 "campaign_id": uuid.UUID(campaigns[i % 2]), "event_id": f"ev-{i}",
                 "subscriber": msisdn(rng.randrange(args.subscribers)), "kind": "credit_bucket",
                 "details": {"balance_type": "data_mb", "amount": 100}, "funding_partner": None,
                 "cost_minor": 0, "currency": "XXX", "status": "granted",
                 "rewarded_at": now - timedelta(seconds=args.rewards - i), "reversed_at": None}
            )  # fmt: skip
        for i in range(0, len(rewards), CHUNK):
            conn.execute(sa.insert(t.rewards), rewards[i : i + CHUNK])
        values = [
            {"tenant_id": tenant, "subscriber": msisdn(i), "name": "data_mb_month",
             "bucket": month, "value": float(rng.randrange(2000))}
            for i in range(args.subscribers)
        ]  # fmt: skip
        counts = [
            {"campaign_id": uuid.UUID(campaigns[0]), "subscriber": msisdn(i), "period": month,
             "tenant_id": tenant, "count": 1}
            for i in range(0, args.subscribers, 3)
        ]  # fmt: skip
        for i in range(0, len(values), CHUNK):
            conn.execute(sa.insert(t.aggregate_values), values[i : i + CHUNK])
        for i in range(0, len(counts), CHUNK):
            conn.execute(sa.insert(t.campaign_subscriber_counts), counts[i : i + CHUNK])
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
        last4s = list(
            conn.execute(
                sa.select(t.vouchers.c.code_last4)
                .where(t.vouchers.c.tenant_id == tenant)
                .order_by(t.vouchers.c.serial)
                .limit(2000)
            ).scalars()
        )
    engine.dispose()
    built["last4s"] = last4s
    return campaigns


def lookups(
    built: dict[str, Any], campaigns: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Each lookup: a function of a random generator giving (path, params)."""
    holders, first, last = built["holders"], built["first"], built["last"]
    since = (datetime.now(UTC) - timedelta(seconds=args.rewards // 2)).isoformat()
    # Redemptions are spread over the last 40,000 minutes: the last week holds a quarter.
    redeemed_since = (datetime.now(UTC) - timedelta(days=7)).isoformat()

    def holder(rng: random.Random) -> str:
        return str(rng.choice(holders))

    return {
        "vouchers?subscriber": lambda g: ("/v1/vouchers", {"subscriber": holder(g)}),
        "vouchers?subscriber&status=used": lambda g: (
            "/v1/vouchers", {"subscriber": holder(g), "status": "used"}),
        "vouchers?last4": lambda g: ("/v1/vouchers", {"last4": g.choice(built["last4s"])}),
        "vouchers?status=used (from a serial)": lambda g: (
            "/v1/vouchers", {"status": "used", "serial_from": g.randrange(first, last)}),
        "vouchers?status=available (from a serial)": lambda g: (
            "/v1/vouchers", {"status": "available", "serial_from": g.randrange(first, last)}),
        "vouchers?type (200 outside the batch)": lambda g: (
            "/v1/vouchers", {"type": str(built["rare_type"])}),
        "vouchers?type (the batch's, from a serial)": lambda g: (
            "/v1/vouchers", {"type": str(built["common_type"]),
                             "serial_from": g.randrange(first, last)}),
        "vouchers?subscriber&since": lambda g: (
            "/v1/vouchers", {"subscriber": holder(g), "since": redeemed_since}),
        "batches/{id}/vouchers (serial range of 100)": lambda g: (
            f"/v1/batches/{built['batch']}/vouchers",
            {"serial_from": (s := g.randrange(first, last - 100)), "serial_to": s + 99}),
        "subscribers/{id}/history": lambda g: (f"/v1/subscribers/{holder(g)}/history", {}),
        "subscribers/{id}/history?kind=redemption": lambda g: (
            f"/v1/subscribers/{holder(g)}/history", {"kind": "redemption"}),
        "subscribers/{id}/aggregates": lambda g: (f"/v1/subscribers/{holder(g)}/aggregates", {}),
        "rewards?subscriber": lambda g: ("/v1/rewards", {"subscriber": holder(g)}),
        "rewards?campaign&since": lambda g: (
            "/v1/rewards", {"campaign": g.choice(campaigns), "since": since}),
        "rewards (all, first page)": lambda g: ("/v1/rewards", {}),
    }  # fmt: skip


def measure(base: str, key: str, cases: dict[str, Any], requests: int) -> dict[str, Any]:
    rng = random.Random(3)
    results = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as api:
        for name, make in cases.items():
            for _ in range(20):  # warm the connection and the caches
                path, params = make(rng)
                api.get(path, params=params)
            times, found, errors = [], 0, 0
            for _ in range(requests):
                path, params = make(rng)
                started = time.perf_counter()
                answer = api.get(path, params=params)
                times.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    errors += 1
                    continue
                body = answer.json()
                found += len(body["items"]) if "items" in body else len(body["aggregates"])
            results[name] = {
                "p50_ms": round(percentile(times, 50), 2),
                "p99_ms": round(percentile(times, 99), 2),
                "max_ms": round(max(times), 2),
                "items_per_answer": round(found / requests, 1),
                "errors": errors,
            }
            r = results[name]
            print(f"{name:48} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  "
                  f"max {r['max_ms']:7.2f} ms  items {r['items_per_answer']:6.1f}  "
                  f"errors {errors}", flush=True)  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--vouchers", type=int, default=1_000_000)
    parser.add_argument("--redeemed", type=int, default=50_000)
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--edrs", type=int, default=450_000, help="beside the redemptions'")
    parser.add_argument("--rewards", type=int, default=40_000)
    parser.add_argument("--requests", type=int, default=300, help="per lookup")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.store) as url:
        built = build_store(url, args, Path(tmp))
        print(f"store built: {args.vouchers:,} vouchers in a batch ({built['generated_s']} s), "
              f"{args.redeemed:,} redeemed, {built['edrs']:,} EDRs, {built['built_s']} s in all",
              flush=True)  # fmt: skip
        # The 500,000 EDRs were inserted at once: the seal job would seal them all in its first
        # run, inside serve on SQLite, holding the writer for longer than a write here waits.
        # A store that grew one change at a time seals a few at a time; that one-off is not
        # what a lookup meets, so this server does not seal.
        quiet = {"TESSERA_SEAL_INTERVAL_SECONDS": "0"}
        with running_server(url, workers=2, settings=quiet) as base:
            campaigns = seed_rewards(base, url, built, args)
            steal = Steal()
            results = measure(base, built["key"], lookups(built, campaigns, args), args.requests)
            steal.stop()
    worst = max(r["p99_ms"] for r in results.values())
    print(
        json.dumps(
            {
                "bench": "lookups",
                "store": args.store,
                "vouchers": args.vouchers + 200,
                "edrs": built["edrs"],
                "rewards": args.rewards,
                "requests_per_lookup": args.requests,
                "worst_p99_ms": worst,
                "steal_percent": steal.percent,
                "lookups": results,
            }
        )
    )


if __name__ == "__main__":
    main()
