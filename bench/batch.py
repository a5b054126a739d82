"""How fast a batch is generated, hashed, stored and printed, end to end.

    python bench/batch.py --count 1000000 --store sqlite
    TESSERA_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python bench/batch.py --count 1000000 --store postgresql

Each run uses a fresh database (a temporary SQLite file, or a database created on the
TESSERA_TEST_POSTGRES_URL server and dropped afterwards). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from _harness import fresh_database
from tessera.bootstrap import build
from tessera.config import Settings
from tessera.domain.batches import BatchRequest
from tessera.domain.catalog import BucketTemplate, VoucherTypeSpec
from tessera.domain.codes import CodeFormat
from tessera.domain.lifecycle import LifecycleRules, ValidityKind
from tessera.services import batches, catalog
from tessera.services.tenants import create_tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--chunk", type=int, default=None, help="default: the store's")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.store) as url:
        settings = Settings(database_url=url, code_secret=SecretStr(secrets.token_hex(32)))
        container = build(settings)
        tenant, _key = create_tenant(container.directory(), "bench")
        uow = lambda: container.uow(tenant.id)  # noqa: E731
        rules = LifecycleRules(ValidityKind.FROM_ACTIVATION, validity_days=90)
        lifecycle = catalog.create_lifecycle(uow(), "90 days", rules)
        voucher_type = catalog.create_voucher_type(
            uow(),
            VoucherTypeSpec(
                "Airtime 100", 100_00, "KES", lifecycle.id, (BucketTemplate("airtime", 100_00),)
            ),
        )
        request = BatchRequest(voucher_type.id, args.count, CodeFormat(), include_cost=True)

        started = time.perf_counter()
        batch = batches.create_batch(uow(), request, Path(tmp))
        batch = batches.generate_batch(
            uow(), batch.id, container.code_secret, chunk_size=args.chunk
        )
        seconds = time.perf_counter() - started

        assert batch.print_file is not None
        with Path(batch.print_file).open("rb") as printed:
            lines = sum(1 for _ in printed) - 1
        assert lines == args.count == batch.generated, (lines, batch.generated)
        container.close()

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "bench": "batch",
                "store": args.store,
                "count": args.count,
                "seconds": round(seconds, 2),
                "vouchers_per_s": round(args.count / seconds),
                "peak_rss_mb": round(peak_rss_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
