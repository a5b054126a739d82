"""How long an operator's read waits while batches generate on SQLite (one server process).

Every SQLite transaction of a process queues on its writer lock (``adapters/db/engine.py``).
This starts ``tessera serve`` on a fresh SQLite file, asks for ``--batches`` batches of
``--count`` vouchers at once (they generate in the server's background threads, chunk after
chunk), and meanwhile sends ``GET /v1/batches?limit=2`` one after another for ``--seconds``:
it prints how many answered and their p50, p99 and slowest time.

    python bench/writer_queue.py --count 200000 --batches 3 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import time

import httpx

from _harness import container_for, fresh_database, percentile, running_server
from tessera.services.tenants import create_tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="vouchers per batch")
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with fresh_database("sqlite") as url:
        container = container_for(url)
        _tenant, key = create_tenant(container.directory(), "writer-queue")
        container.close()
        with running_server(url, workers=1) as base:
            client = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
            )
            lifecycle = client.post(
                "/v1/lifecycles",
                json={"name": "30 days", "validity_kind": "from_issue", "validity_days": 30},
            ).json()
            voucher_type = client.post(
                "/v1/voucher-types",
                json={
                    "name": "Data 1GB",
                    "cost_minor": 500,
                    "currency": "EUR",
                    "lifecycle_id": lifecycle["id"],
                    "buckets": [{"balance_type": "data_mb", "amount": 1024, "validity_days": 30}],
                },
            ).json()
            for _ in range(args.batches):
                answer = client.post(
                    "/v1/batches", json={"voucher_type_id": voucher_type["id"], "count": args.count}
                )
                assert answer.status_code == 202, answer.text
            waits: list[float] = []
            refused = 0
            started = time.monotonic()
            while time.monotonic() - started < args.seconds:
                sent = time.monotonic()
                answer = client.get("/v1/batches", params={"limit": 2})
                waits.append(time.monotonic() - sent)
                refused += answer.status_code != 200
            generated = sum(b["generated"] for b in client.get("/v1/batches").json()["items"])
            deadline = time.monotonic() + 600  # let the batches finish before the server stops
            while time.monotonic() < deadline:
                states = [b["state"] for b in client.get("/v1/batches").json()["items"]]
                if "generating" not in states:
                    break
                time.sleep(0.5)
    print(
        json.dumps(
            {
                "store": "sqlite",
                "batches": args.batches,
                "count": args.count,
                "seconds": args.seconds,
                "reads": len(waits),
                "refused": refused,
                "read_p50_ms": round(percentile(waits, 50) * 1000, 1),
                "read_p99_ms": round(percentile(waits, 99) * 1000, 1),
                "read_max_ms": round(max(waits) * 1000, 1),
                "vouchers_generated_meanwhile": generated,
            }
        )
    )


if __name__ == "__main__":
    main()
