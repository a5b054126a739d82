"""Where the CPU of one redemption goes: the server's workers, PostgreSQL, the load generator.

On a 2-core machine the three share the cores, so the sum per redemption bounds the rate:
two cores give 2,000 ms of CPU a second. Starts ``tessera serve`` like ``bench/redeem.py``,
runs a closed loop, and reads the processes' CPU time from /proc (Linux only).

    python bench/redeem_cpu.py --redemptions 4000   # TESSERA_TEST_POSTGRES_URL names the server
    python bench/redeem_cpu.py --redemptions 5000 --rate 500   # at a fixed rate instead

The last line is one JSON object. PostgreSQL's share counts every postgres process on the
machine: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from _harness import fresh_database, serving
from _load import closed_loop, encode, open_loop, run
from redeem import prepare

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes of ``tessera serve`` (spawned by multiprocessing)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for kid in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                found.append(int(kid))
    return found


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on this machine (backends come and go as pools grow)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
    return found


NAMES: dict[int, bytes] = {}


def snapshot(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):  # gone meanwhile
            seconds[pid] = cpu_seconds(pid)
            NAMES[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:70]
    return seconds


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots; a process started in between counts from zero."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redemptions", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=16, help="TESSERA_DB_POOL_SIZE")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="requests/s on a fixed schedule (0: closed loop)"
    )
    args = parser.parse_args()

    with fresh_database("postgresql") as url:
        key, codes = prepare(url, args.redemptions + 500)
        settings = {"TESSERA_DB_POOL_SIZE": str(args.pool), "TESSERA_KEY_CACHE_SECONDS": "5"}
        with serving(url, args.workers, settings) as (base, server_pid):
            headers = {"Authorization": f"Bearer {key}"}

            def bodies(part: list[str], prefix: str = "s") -> list[bytes]:
                return [
                    encode({"code": c, "subscriber": f"{prefix}{i % 1000}"})
                    for i, c in enumerate(part)
                ]

            warm = bodies(codes[:500])  # as many connections as the run: pools at full size
            run(lambda: closed_loop(base, "/v1/vouchers/redeem", warm, args.clients, headers))
            workers = [server_pid, *workers_of(server_pid)]  # the supervisor too
            before = snapshot(workers), snapshot(postgres_pids()), os.times()
            measured = bodies(codes[500:], "n")
            if args.rate:
                result = run(
                    lambda: open_loop(base, "/v1/vouchers/redeem", measured, args.rate, headers)
                )
            else:
                result = run(
                    lambda: closed_loop(
                        base, "/v1/vouchers/redeem", measured, args.clients, headers
                    )
                )
            after = snapshot(workers), snapshot(postgres_pids()), os.times()
    n = args.redemptions
    if os.environ.get("REDEEM_CPU_DETAIL"):  # the busiest PostgreSQL processes, on stderr
        busiest = sorted(after[1].items(), key=lambda kv: before[1].get(kv[0], 0) - kv[1])
        for pid, value in busiest[:12]:
            print(round(value - before[1].get(pid, 0), 2), NAMES.get(pid), file=sys.stderr)
    mine = (after[2].user - before[2].user) + (after[2].system - before[2].system)
    print(
        json.dumps(
            {
                "bench": "redeem_cpu",
                "redemptions": n,
                "redemptions_per_s": round(n / result.elapsed, 1),
                "errors": result.errors,
                "p99_ms": round(sorted(result.latencies)[int(0.99 * n)] * 1000, 2),
                "server_cpu_ms": round(spent(before[0], after[0]) / n * 1000, 3),
                "postgres_cpu_ms": round(spent(before[1], after[1]) / n * 1000, 3),
                "load_generator_cpu_ms": round(mine / n * 1000, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
