"""CPU per request of the NUL guard (``entrypoints/http/input_guard.py``) in front of an app
that answers at once: a point-of-sale body (about 90 bytes) and an events batch of 1,000
(about 150 KB), each with and without the guard, in one process. Prints µs per request."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from tessera.entrypoints.http.input_guard import RefuseNul


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await receive()  # the app reads the body, as FastAPI would


def _scope() -> dict[str, Any]:
    return {
        "type": "http", "method": "POST", "path": "/v1/vouchers/redeem",
        "raw_path": b"/v1/vouchers/redeem", "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }  # fmt: skip


async def _per_request(app: Any, body: bytes, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_message: Any) -> None:
        return None

    started = time.perf_counter()
    for _ in range(n):
        await app(_scope(), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    redeem = json.dumps({"code": "1234-5678-9012-3", "subscriber": "254700000001"}).encode()
    event = {"id": "e", "type": "usage.data", "subscriber": "2547", "occurred_at":
             "2026-12-01T10:00:00Z", "attributes": {"mb": 120, "plan": "gold"}}  # fmt: skip
    events = json.dumps({"events": [{**event, "id": f"e{i}"} for i in range(1000)]}).encode()
    results = {}
    for name, body, n in (("redeem", redeem, args.requests), ("events_1000", events, 2000)):
        bare = asyncio.run(_per_request(_app, body, n))
        guarded = asyncio.run(_per_request(RefuseNul(_app), body, n))
        results[name] = {
            "bytes": len(body),
            "bare_us": round(bare, 2),
            "guarded_us": round(guarded, 2),
            "added_us": round(guarded - bare, 2),
        }
        print(f"{name}: {len(body):,} bytes, +{guarded - bare:.2f} µs per request")
    print(json.dumps({"bench": "input_guard", **results}))


if __name__ == "__main__":
    main()
