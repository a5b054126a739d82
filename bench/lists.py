"""Partner lists: upload 1,000,000 codes from a CSV file, then 10,000 distributions from 32
concurrent clients. Last line: one JSON object.

    python bench/lists.py --store sqlite
    python bench/lists.py --store postgresql   # server from TESSERA_TEST_POSTGRES_URL; a
                                               # database of its own is created and dropped
    python bench/lists.py --store postgresql --repeats 1 --distributions 0
                                               # 1 % of the rows repeat an earlier code

With ``--repeats P``, P % of the rows (chosen at random, seeded) repeat the code of a random
earlier row, anywhere in the file; the report must name each of them as a duplicate.

Upload and distributions go through the same service calls as the API and the CLI.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _harness import fresh_database
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.domain.lists import ListSpec
from tessera.services import lists
from tessera.services.distribution import distribute
from tessera.services.list_upload import upload_codes
from tessera.services.tenants import create_tenant


def write_csv(path: Path, rows: int, repeats_percent: float = 0.0) -> int:
    """The file, and how many of its rows repeat an earlier code."""
    chance = repeats_percent / 100
    draw = random.Random(20261207)
    codes: list[str] = []
    repeated = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("code,description,expiry\n")
        for i in range(rows):
            if codes and draw.random() < chance:
                code = codes[draw.randrange(len(codes))]
                repeated += 1
            else:
                code = f"PARTNER-{i:09d}-{uuid.uuid4().hex[:8]}"
                codes.append(code)
            out.write(f"{code},10% off your next order,2030-12-31\n")
    return repeated


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--distributions", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--repeats", type=float, default=0.0, help="%% of rows repeating a code")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.store) as url:
        workdir = Path(tmp)
        csv_path = workdir / "codes.csv"
        repeated = write_csv(csv_path, args.codes, args.repeats)
        key = base64.b64encode(os.urandom(32)).decode()
        pool = max(args.clients, 5)
        container = build(Settings(database_url=url, db_pool_size=pool, list_key=key))
        try:
            tenant, _ = create_tenant(container.directory(), "bench")
            uow = lambda: container.uow(tenant.id)  # noqa: E731
            vl = lists.create_list(uow(), ListSpec(partner="Bench", name="bench list"))
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            with csv_path.open("rb") as stream:
                report = upload_codes(uow(), vl.id, stream, filename="codes.csv")
            upload_s = time.perf_counter() - started
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            assert report.accepted == args.codes - repeated, report
            assert report.duplicates_in_file == repeated, report
            print(
                f"upload: {args.codes} rows ({repeated} repeated) in {upload_s:.1f} s",
                file=sys.stderr,
            )

            # One subscriber per distribution (a list gives each one code by default), known
            # beforehand, as a subscriber of the operator usually is.
            subscribers = [f"2547{i:08d}" for i in range(args.distributions)]
            with uow() as bulk:
                for start in range(0, len(subscribers), 5000):
                    bulk.subscribers.ensure_many(
                        set(subscribers[start : start + 5000]), bulk.clock()
                    )
                bulk.commit()
            counter = iter(subscribers)
            lock = threading.Lock()
            codes: list[str] = []

            def client(_: int) -> None:
                while True:
                    with lock:
                        subscriber = next(counter, None)
                    if subscriber is None:
                        return
                    given = distribute(uow(), [vl.id], subscriber)
                    assert not given.already_given
                    codes.append(given.code)

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as clients:
                list(clients.map(client, range(args.clients)))
            dist_s = time.perf_counter() - started
            assert len(codes) == len(set(codes)) == args.distributions
            print(f"distribution: {args.distributions} in {dist_s:.1f} s", file=sys.stderr)
        finally:
            container.close()
    print(
        json.dumps(
            {
                "bench": "lists",
                "store": args.store,
                "codes_uploaded": args.codes,
                "repeated_rows": repeated,
                "upload_seconds": round(upload_s, 2),
                "upload_codes_per_second": round(args.codes / upload_s),
                "upload_peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
                "distributions": args.distributions,
                "clients": args.clients,
                "distribution_seconds": round(dist_s, 2),
                "distributions_per_second": round(args.distributions / dist_s) if dist_s else 0,
            }
        )
    )


if __name__ == "__main__":
    main()
