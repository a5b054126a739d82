"""How fast the worker's seal job seals EDRs into hash-chained blocks, and how fast verify
checks them.

    python bench/seal.py --edrs 200000 --store sqlite
    TESSERA_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python bench/seal.py --edrs 200000 --store postgresql

A fresh database; the EDRs are written first (redemption-like rows with details, spread over
--tenants tenants), then one seal run is timed (services/edr_seal.seal_all, the job's code),
then one verify per tenant. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from _harness import container_for, fresh_database
from tessera.domain.edr import EdrDraft
from tessera.services import edr_seal
from tessera.services.tenants import create_tenant


def redemption_like(i: int) -> EdrDraft:
    return EdrDraft(
        "voucher.redeem", "voucher", str(100_000_000 + i),
        status_before="available", status_after="used", amount_minor=500, currency="KES",
        details={"subscriber": f"2547{i:08d}", "revenue": "recognized",
                 "grants": [{"balance_type": "airtime", "amount": 500}]},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edrs", type=int, default=200_000)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--block-size", type=int, default=edr_seal.BLOCK_SIZE)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with fresh_database(args.store) as url:
        container = container_for(url)
        tenants = [
            create_tenant(container.directory(), f"bench-{i}")[0].id for i in range(args.tenants)
        ]
        per_tenant = args.edrs // args.tenants
        for n, tid in enumerate(tenants):
            for start in range(0, per_tenant, 5000):
                with container.uow(tid) as uow:
                    uow.edrs.append_many(
                        [
                            redemption_like(n * per_tenant + i)
                            for i in range(start, min(start + 5000, per_tenant))
                        ],
                        container.clock(),
                    )
                    uow.commit()
        total = per_tenant * args.tenants + args.tenants  # + each tenant's key.create
        started = time.perf_counter()
        report = edr_seal.seal_all(container.directory, container.uow, args.block_size)
        seal_seconds = time.perf_counter() - started
        assert report.sealed == total, (report.sealed, total)
        started = time.perf_counter()
        for tid in tenants:
            assert edr_seal.verify_tenant(container.uow(tid)).ok
        verify_seconds = time.perf_counter() - started
        container.close()
    result = {
        "store": args.store,
        "edrs": total,
        "blocks": report.blocks,
        "seal_seconds": round(seal_seconds, 2),
        "sealed_per_second": round(total / seal_seconds),
        "verify_seconds": round(verify_seconds, 2),
        "verified_per_second": round(total / verify_seconds),
        "load": os.getloadavg()[0],
    }
    print(
        f"sealed {total:,} EDRs in {report.blocks} blocks: {seal_seconds:.2f} s "
        f"({result['sealed_per_second']:,}/s); verified in {verify_seconds:.2f} s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
