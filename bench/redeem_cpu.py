"""Where the CPU of one redemption goes: the server's workers, PostgreSQL, the load generator.

On a 2-core machine the three share the cores, so the sum per redemption bounds the rate:
two cores give 2,000 ms of CPU a second. Starts ``tessera serve`` like ``bench/redeem.py``,
runs a closed loop, and reads the processes' CPU time from /proc (Linux only).

    python bench/redeem_cpu.py --redemptions 4000   # TESSERA_TEST_POSTGRES_URL names the server

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from _harness import CODE_SECRET, free_port, fresh_database
from _load import closed_loop, encode, run
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


def postgres_pids(url: str) -> list[int]:
    """This database's backends and the server's own processes (WAL writer, checkpointer...)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() OR backend_type <> 'client backend'"
            )
        ).scalars()
        result = [int(p) for p in pids]
    engine.dispose()
    return result


def total(pids: list[int]) -> float:
    seconds = 0.0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a closed backend
            seconds += cpu_seconds(pid)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redemptions", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with fresh_database("postgresql") as url:
        key, codes = prepare(url, args.redemptions + 500)
        port = free_port()
        env = {
            **os.environ,
            "TESSERA_DATABASE_URL": url,
            "TESSERA_CODE_SECRET": CODE_SECRET,
            "TESSERA_WORKERS": str(args.workers),
            "TESSERA_PORT": str(port),
            "TESSERA_LOG_LEVEL": "warning",
            "TESSERA_DB_POOL_SIZE": str(args.clients),
            "TESSERA_KEY_CACHE_SECONDS": "5",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "tessera.entrypoints.cli", "serve"],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}

            def bodies(part: list[str]) -> list[bytes]:
                return [
                    encode({"code": c, "subscriber": f"s{i % 1000}"}) for i, c in enumerate(part)
                ]

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                time.sleep(0.2)
            time.sleep(2)  # every worker has opened its pool
            run(lambda: closed_loop(base, "/v1/vouchers/redeem", bodies(codes[:500]), 8, headers))
            workers = workers_of(server.pid)
            database = postgres_pids(url)
            before = total(workers), total(database), os.times()
            result = run(
                lambda: closed_loop(
                    base, "/v1/vouchers/redeem", bodies(codes[500:]), args.clients, headers
                )
            )
            after = total(workers), total(database), os.times()
        finally:
            server.terminate()
            server.wait(timeout=30)
    n = args.redemptions
    mine = (after[2].user - before[2].user) + (after[2].system - before[2].system)
    print(
        json.dumps(
            {
                "bench": "redeem_cpu",
                "redemptions": n,
                "redemptions_per_s": round(n / result.elapsed, 1),
                "errors": result.errors,
                "server_cpu_ms": round((after[0] - before[0]) / n * 1000, 3),
                "postgres_cpu_ms": round((after[1] - before[1]) / n * 1000, 3),
                "load_generator_cpu_ms": round(mine / n * 1000, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
