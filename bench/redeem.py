"""Redemptions per second over HTTP against the real server.

Starts ``tessera serve`` (gunicorn, uvicorn workers, as in production) on a fresh store,
prepares vouchers in bulk through the repository, then drives ``POST /v1/vouchers/redeem``
with concurrent clients (closed loop), and a second run at a fixed rate (open loop) for its
p99.

    python bench/redeem.py --store postgresql   # needs TESSERA_TEST_POSTGRES_URL
    python bench/redeem.py --store sqlite
    python bench/redeem.py --store postgresql --webhooks   # the tenant wants voucher.redeemed
    python bench/redeem.py --store postgresql --marketplace
        # a host's brand issues a type shared with a second brand: the closed loop runs
        # twice, same-brand (the issuer's till) then cross-brand (the other brand's till)

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from _harness import CODE_SECRET, Steal, fresh_database, running_server
from _load import closed_loop, encode, open_loop, run
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.domain.catalog import BucketTemplate, VoucherTypeSpec
from tessera.domain.code_hash import code_hash
from tessera.domain.codes import generate_codes, last4
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.domain.roles import Role
from tessera.services import brands, catalog, notifications, shares
from tessera.services.issuing import DEFAULT_FORMAT
from tessera.services.tenants import create_key, create_tenant

SECRET = CODE_SECRET


# With --webhooks: the key sealing the outbox, and the loopback network the endpoint is on
# (nothing listens there: the server dispatches nothing on PostgreSQL, the rows stay queued).
WEBHOOK_SETTINGS = {
    "TESSERA_LIST_KEY": "YmVuY2gtbGlzdC1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
    "TESSERA_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
}


def prepare(
    url: str, count: int, webhooks: bool = False, marketplace: bool = False
) -> tuple[str, list[str], str | None]:
    """A tenant, a pos key, a type, and ``count`` available vouchers (bulk insert); with
    ``webhooks``, an endpoint of the tenant subscribed to ``voucher.redeemed``. With
    ``marketplace`` the tenant is a brand of a host, and the type is shared with a second
    brand, whose pos key is the third value (else None)."""
    container = build(
        Settings(
            database_url=url,
            code_secret=SecretStr(SECRET),
            list_key=SecretStr(WEBHOOK_SETTINGS["TESSERA_LIST_KEY"]),
            webhook_allowed_networks=WEBHOOK_SETTINGS["TESSERA_WEBHOOK_ALLOWED_NETWORKS"],
        )
    )
    other_pos = None
    if marketplace:
        host, _admin = create_tenant(container.directory(), "bench host")
        tenant, _k, _p = brands.create_brand(container.uow(host.id), "bench")
        other, _k, _p = brands.create_brand(container.uow(host.id), "bench other brand")
        _key, other_pos = create_key(container.uow(other.id), "other till", Role.POS)
    else:
        tenant, _admin = create_tenant(container.directory(), "bench")
    _key, pos = create_key(container.uow(tenant.id), "bench till", Role.POS)
    if webhooks:
        notifications.create_endpoint(
            container.uow(tenant.id),
            container.webhook_targets,
            "http://127.0.0.1:9/bench",
            ["voucher.redeemed"],
        )
    rules = LifecycleRules(ValidityKind.FROM_ISSUE, validity_days=365, grace_days=30)
    lifecycle = catalog.create_lifecycle(container.uow(tenant.id), "bench", rules)
    spec = VoucherTypeSpec(
        name="bench 1GB",
        cost_minor=500,
        currency="EUR",
        lifecycle_id=lifecycle.id,
        buckets=(BucketTemplate("data_mb", 1024, 30),),
    )
    voucher_type = catalog.create_voucher_type(container.uow(tenant.id), spec)
    if marketplace:
        shares.share_type(container.uow(tenant.id), voucher_type.id, other.id)
    codes = list(dict.fromkeys(generate_codes(DEFAULT_FORMAT, count + 64)))[:count]
    secret = container.code_secret
    uow = container.uow(tenant.id)
    with uow:
        first = uow.serials.reserve(count)
        now = uow.clock()
        rows = [
            {
                "serial": first + i,
                "code_hash": code_hash(secret, code),
                "code_last4": last4(code),
                "voucher_type_id": voucher_type.id,
                "lifecycle_id": lifecycle.id,
                "status": "available",
                "issued_at": now,
                "activated_at": now,
                "status_changed_at": now,
            }
            for i, code in enumerate(codes)
        ]
        for start in range(0, count, 5000):
            uow.vouchers.add_many(rows[start : start + 5000])
        uow.commit()
    container.close()
    return pos, codes, other_pos


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--redemptions", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop requests/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--webhooks", action="store_true", help="the tenant has an endpoint for voucher.redeemed"
    )
    parser.add_argument(
        "--marketplace",
        action="store_true",
        help="also --redemptions cross-brand: a type shared by one brand, used at another",
    )
    args = parser.parse_args()

    open_count = int(args.rate * args.rate_seconds)
    crossing = args.redemptions if args.marketplace else 0
    with fresh_database(args.store) as url:
        key, codes, other_key = prepare(
            url, args.redemptions + crossing + open_count + 1000, args.webhooks, args.marketplace
        )
        warm, closed, rated = (
            codes[:500],
            codes[500 : 500 + args.redemptions],
            codes[500 + args.redemptions : 500 + args.redemptions + open_count],
        )
        rest = codes[500 + args.redemptions + open_count :]
        cross_warm, cross = rest[:500], rest[500 : 500 + crossing]
        # Per worker, up to this many PostgreSQL connections for the transactional path, and
        # two for the quick one: 2 x (16 + 2) stay under the default max_connections (100).
        pool = 16
        # The key cache saves a lookup per request; a revoked key may work for 5 s more.
        settings = {
            "TESSERA_DB_POOL_SIZE": str(pool),
            "TESSERA_KEY_CACHE_SECONDS": "5",
            **WEBHOOK_SETTINGS,
        }
        headers = {"Authorization": f"Bearer {key}"}
        path = "/v1/vouchers/redeem"

        def bodies(codes: list[str], prefix: str) -> list[bytes]:
            return [
                encode({"code": code, "subscriber": f"{prefix}{i % 1000}"})
                for i, code in enumerate(codes)
            ]

        with running_server(url, args.workers, settings) as base:
            # Warm with as many connections as the runs use: every worker's pools at full size,
            # every statement prepared on every connection (as on a server that has been up).
            run(lambda: closed_loop(base, path, bodies(warm, "w"), args.clients, headers))
            closed_steal = Steal()
            closed_run = run(
                lambda: closed_loop(base, path, bodies(closed, "s"), args.clients, headers)
            )
            closed_steal.stop()
            rated_steal = Steal()
            rated_run = run(lambda: open_loop(base, path, bodies(rated, "o"), args.rate, headers))
            rated_steal.stop()
            cross_run, cross_steal = None, None
            if other_key is not None:  # the same closed loop at the brand the type is shared with
                other = {"Authorization": f"Bearer {other_key}"}
                run(lambda: closed_loop(base, path, bodies(cross_warm, "x"), args.clients, other))
                cross_steal = Steal()
                cross_run = run(
                    lambda: closed_loop(base, path, bodies(cross, "c"), args.clients, other)
                )
                cross_steal.stop()
        queued = _queued(url)
    elapsed, latencies, errors = closed_run.elapsed, closed_run.latencies, closed_run.errors
    rate_latencies, rate_errors = rated_run.latencies, rated_run.errors
    print(
        f"closed loop: {len(closed)} redemptions in {elapsed:.2f} s, "
        f"mean {statistics.mean(latencies) * 1000:.2f} ms; "
        f"open loop at {args.rate:g}/s: p50 {pct(rate_latencies, 0.5)} ms, "
        f"p99 {pct(rate_latencies, 0.99)} ms, errors {rate_errors}; "
        f"statuses {closed_run.statuses} / {rated_run.statuses}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "redeem",
                "store": args.store,
                "clients": args.clients,
                "workers": args.workers,
                "redemptions": len(closed),
                "redemptions_per_s": round(len(closed) / elapsed, 1),
                "p50_ms": pct(latencies, 0.5),
                "p99_ms": pct(latencies, 0.99),
                "errors": errors,
                "steal_pct": closed_steal.percent,
                "fixed_rate_per_s": args.rate,
                "fixed_rate_p99_ms": pct(rate_latencies, 0.99),
                "fixed_rate_errors": rate_errors,
                "fixed_rate_steal_pct": rated_steal.percent,
                "webhooks": args.webhooks,
                "notifications_queued": queued,
            }
            | _cross(cross_run, cross_steal, len(closed) / elapsed)
        )
    )


def _cross(cross_run: Any, steal: Steal | None, same_brand_per_s: float) -> dict[str, Any]:
    """With --marketplace: the cross-brand closed loop's figures beside the same-brand one."""
    if cross_run is None or steal is None:
        return {}
    per_s = len(cross_run.latencies) / cross_run.elapsed
    return {
        "marketplace": True,
        "cross_brand_redemptions": len(cross_run.latencies),
        "cross_brand_per_s": round(per_s, 1),
        "cross_brand_p50_ms": pct(cross_run.latencies, 0.5),
        "cross_brand_p99_ms": pct(cross_run.latencies, 0.99),
        "cross_brand_errors": cross_run.errors,
        "cross_brand_statuses": cross_run.statuses,
        "cross_brand_steal_pct": steal.percent,
        "cross_over_same_brand": round(per_s / same_brand_per_s, 3),
    }


def _queued(url: str) -> int:
    """Outbox rows written (one per redemption served, with --webhooks; else 0)."""
    container = build(Settings(database_url=url))
    with container.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM notifications")).scalar_one()
    container.close()
    return int(count)


if __name__ == "__main__":
    main()
