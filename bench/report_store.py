"""A large store for bench/reports.py, written straight into the tables (COPY on
PostgreSQL, multi-row inserts on SQLite) as the services would have left it.

One tenant; 20 voucher types and 50 batches of ``vouchers // 50``: 40 activated (half of
their vouchers still available, the rest used, reserved, expired, canceled or closed at a
random time over 90 days, each change with its ``voucher.*`` EDR and, where the cost moves,
its ``revenue.*`` EDR), 5 activated then frozen, 5 generated and never activated; each batch
operation's EDR with its ``moved`` counts and its revenue move. ``voucher.validate`` EDRs
(which change nothing) fill the EDRs up to ``edrs``. Ten campaigns (three of them funded by
partners, budgets on all) with ``rewards`` reward rows (2 % reversed), five partner lists of
``codes // 5`` codes each (half issued, a tenth of those reported redeemed)."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.bootstrap import Container
from tessera.domain.campaigns import CampaignSpec, CampaignStatus, Caps, RewardKind, RewardSpec
from tessera.domain.lists import ListSpec
from tessera.domain.revenue import Movement, revenue_edr
from tessera.services import campaigns, lists
from vouchering_bench import make_types

DAYS = 90
CHUNK = 20_000
# Of an activated batch's vouchers: (status, share, the voucher operation, the revenue move)
FATES = [
    ("available", 0.50, None, None),
    ("used", 0.30, "redeem", Movement.RECOGNIZED_BY_USE),
    ("reserved", 0.05, "reserve", None),
    ("expired", 0.05, "expire", Movement.RECOGNIZED_BY_EXPIRY),
    ("canceled", 0.05, "cancel", Movement.RELEASED),
    ("closed", 0.05, "close", Movement.RELEASED),
]


def write(container: Container, table: sa.Table, rows: Iterator[dict[str, Any]]) -> int:
    """Every row of ``rows`` into ``table``, in chunks; returns how many."""
    written = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            written += _flush(container, table, chunk)
            chunk = []
    if chunk:
        written += _flush(container, table, chunk)
    return written


def _flush(container: Container, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    columns = list(rows[0])
    with container.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            from psycopg.types.json import Jsonb

            raw = conn.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cur:  # type: ignore[attr-defined]
                names = ", ".join(columns)
                with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(
                            [Jsonb(v) if isinstance(v, dict) else v for v in map(row.get, columns)]
                        )
        else:
            conn.execute(sa.insert(table), rows)
    return len(rows)


def build(container: Container, tid: uuid.UUID, *, vouchers: int, edrs: int, rewards: int,
          codes: int, seed: int = 16) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(seed)
    now = container.clock()
    start = now - timedelta(days=DAYS)
    types = make_types(container, tid, 20)
    with container.uow(tid) as uow:
        lifecycle_id = uow.voucher_types.get(types[0][0]).spec.lifecycle_id  # type: ignore[union-attr]
    per_batch = vouchers // 50
    batches = []
    for b in range(50):
        type_id, cost = types[b % 20]
        made = start + timedelta(minutes=30 * b)
        state = "active" if b < 40 else ("frozen" if b < 45 else "generated")
        batches.append({
            "id": uuid.uuid4(), "tenant_id": tid, "voucher_type_id": type_id,
            "lifecycle_id": lifecycle_id, "state": state, "requested": per_batch,
            "generated": per_batch, "code_format": {"length": 12, "alphabet": "digits"},
            "serial_first": b * per_batch + 1, "serial_last": (b + 1) * per_batch,
            "include_cost": False, "created_at": made, "updated_at": made, "_cost": cost,
        })  # fmt: skip
    write(container, t.batches, ({k: v for k, v in b.items() if k != "_cost"} for b in batches))
    edr_count = 0

    def edr(at: datetime, operation: str, subject_type: str, subject_id: str, before: Any,
            after: Any, details: dict[str, Any], amount: int | None = None,
            currency: str | None = None) -> dict[str, Any]:  # fmt: skip
        nonlocal edr_count
        edr_count += 1
        return {
            "tenant_id": tid, "occurred_at": at, "operation": operation,
            "subject_type": subject_type, "subject_id": subject_id, "status_before": before,
            "status_after": after, "amount_minor": amount, "currency": currency,
            "details": details,
        }  # fmt: skip

    def revenue(kind: Movement, batch: dict[str, Any], at: datetime, subject: tuple[str, str],
                count: int = 1) -> dict[str, Any]:  # fmt: skip
        draft = revenue_edr(
            kind, cost_minor=batch["_cost"], currency="KES",
            voucher_type_id=batch["voucher_type_id"], batch_id=batch["id"],
            subject_type=subject[0], subject_id=subject[1], effective_at=at, cause="bench",
            vouchers=count,
        )  # fmt: skip
        assert draft is not None
        return edr(at, draft.operation, draft.subject_type, draft.subject_id, None, None,
                   draft.details, draft.amount_minor, draft.currency)  # fmt: skip

    voucher_edrs: list[dict[str, Any]] = []

    def voucher_rows() -> Iterator[dict[str, Any]]:
        for b, batch in enumerate(batches):
            activated = batch["created_at"] + timedelta(hours=1)
            subject = ("batch", str(batch["id"]))
            voucher_edrs.append(edr(batch["created_at"], "batch.generate", *subject,
                                    "generating", "generated", {"count": per_batch}))  # fmt: skip
            if batch["state"] != "generated":
                moved = _bulk("activate", per_batch, "pending")
                voucher_edrs.append(
                    edr(activated, "batch.activate", *subject, "generated", "active", moved)
                )
                voucher_edrs.append(revenue(Movement.ADDED, batch, activated, subject, per_batch))
            frozen_at = activated + timedelta(days=1)
            if batch["state"] == "frozen":
                voucher_edrs.append(edr(frozen_at, "batch.freeze", *subject, "active", "frozen",
                                        _bulk("freeze", per_batch, "available")))  # fmt: skip
                voucher_edrs.append(
                    revenue(Movement.RELEASED, batch, frozen_at, subject, per_batch)
                )
            for serial in range(batch["serial_first"], batch["serial_last"] + 1):
                status, changed, activated_at = "pending", batch["created_at"], None
                if batch["state"] != "generated":
                    activated_at = activated
                    status, changed = "available", activated
                if batch["state"] == "frozen":
                    status, changed = "pending", frozen_at
                elif batch["state"] == "active":
                    status, operation, kind = _fate(rng.random())
                    if operation is not None:
                        changed = activated + (now - activated) * rng.random()
                        voucher_edrs.append(edr(changed, f"voucher.{operation}", "voucher",
                                                str(serial), "available", status, {
                                                    "voucher_type_id": str(batch["voucher_type_id"])
                                                }))  # fmt: skip
                        if kind is not None:
                            voucher_edrs.append(
                                revenue(kind, batch, changed, ("voucher", str(serial)))
                            )
                held = changed + timedelta(minutes=10) if status == "reserved" else None
                yield {
                    "tenant_id": tid, "serial": serial, "code_hash": _hash(serial),
                    "code_last4": f"{serial % 10000:04d}",
                    "voucher_type_id": batch["voucher_type_id"], "lifecycle_id": lifecycle_id,
                    "batch_id": batch["id"], "status": status, "issued_at": batch["created_at"],
                    "activated_at": activated_at, "reserved_until": held,
                    "status_changed_at": changed,
                }  # fmt: skip
            if len(voucher_edrs) >= CHUNK or b == 49:
                write(container, t.edrs, iter(voucher_edrs))
                voucher_edrs.clear()

    written = write(container, t.vouchers, voucher_rows())
    with container.engine.begin() as conn:
        conn.execute(sa.update(t.serial_counters).where(t.serial_counters.c.tenant_id == tid)
                     .values(next_serial=written + 1))  # fmt: skip

    def checks() -> Iterator[dict[str, Any]]:
        while edr_count < edrs:
            at = start + timedelta(seconds=rng.randrange(DAYS * 86400))
            serial = rng.randrange(1, written + 1)
            yield edr(at, "voucher.validate", "voucher", str(serial), "available", "available",
                      {"verdict": "usable"})  # fmt: skip

    write(container, t.edrs, checks())
    partners = [None] * 7 + ["StreamCo", "Java House", "CinemaCo"]
    made_campaigns = []
    for i, partner in enumerate(partners):
        spec = CampaignSpec(
            name=f"campaign {i}", trigger_types=("usage.data",), condition="true",
            rewards=(RewardSpec(RewardKind.CREDIT_BUCKET, "sms", 1),),
            status=CampaignStatus.ACTIVE, caps=Caps(total_budget_minor=10**9), currency="KES",
            funding_partner=partner, cost_per_reward_minor=10 * (i + 1),
        )  # fmt: skip
        made_campaigns.append(campaigns.create_campaign(container.uow(tid), spec)[0])

    def reward_rows() -> Iterator[dict[str, Any]]:
        for i in range(rewards):
            campaign = made_campaigns[i % len(made_campaigns)]
            at = start + timedelta(seconds=rng.randrange(DAYS * 86400))
            reversed_ = rng.random() < 0.02
            yield {
                "id": uuid.uuid4(), "tenant_id": tid, "campaign_id": campaign.id,
                "event_id": f"ev{i // 2}", "subscriber": f"2547{rng.randrange(200_000):08d}",
                "kind": "credit_bucket", "details": {"balance_type": "sms", "amount": 1},
                "funding_partner": campaign.spec.funding_partner,
                "cost_minor": campaign.spec.cost_per_reward_minor, "currency": "KES",
                "status": "reversed" if reversed_ else "granted", "rewarded_at": at,
                "reversed_at": at + (now - at) * rng.random() if reversed_ else None,
            }  # fmt: skip

    write(container, t.rewards, reward_rows())
    per_list = codes // 5
    for n, partner in enumerate(["StreamCo", "Java House", "CinemaCo", "Tea", "Books"]):
        made = lists.create_list(container.uow(tid), ListSpec(partner, f"list {n}"))
        upload_id = uuid.uuid4()
        write(container, t.list_uploads, iter([{
            "id": upload_id, "tenant_id": tid, "list_id": made.id, "filename": "codes.csv",
            "rows": per_list, "accepted": per_list, "duplicates_in_file": 0,
            "duplicates_in_list": 0, "invalid": 0, "created_at": start,
        }]))  # fmt: skip

        def code_rows(
            list_id: uuid.UUID = made.id, up: uuid.UUID = upload_id
        ) -> Iterator[dict[str, Any]]:
            for line in range(per_list):
                issued = rng.random() < 0.5
                at = start + timedelta(seconds=rng.randrange(DAYS * 86400)) if issued else None
                redeemed = issued and rng.random() < 0.1
                state = "redeemed" if redeemed else ("issued" if issued else "available")
                yield {
                    "tenant_id": tid, "list_id": list_id, "code_hash": _hash(f"{list_id}{line}"),
                    "code_sealed": b"bench", "state": state, "issued_at": at,
                    "redeemed_at": at + timedelta(hours=1) if redeemed else None,
                    "upload_id": up, "line": line,
                }  # fmt: skip

        write(container, t.list_codes, code_rows())
    if container.engine.dialect.name == "postgresql":
        with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with container.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return {"vouchers": written, "edrs": edr_count, "rewards": rewards, "codes": per_list * 5,
            "since": start}  # fmt: skip


def _hash(value: int | str) -> bytes:
    data = value.to_bytes(8, "big") if isinstance(value, int) else value.encode()
    return hashlib.blake2b(data, digest_size=32).digest()


def _bulk(operation: str, count: int, source: str) -> dict[str, Any]:
    return {"count": count, "whole_batch": True, "voucher_operation": operation,
            "voucher_statuses_from": [source], "moved": {source: count}}  # fmt: skip


def _fate(r: float) -> tuple[str, str | None, Movement | None]:
    for status, share, operation, kind in FATES:
        if r < share:
            return status, operation, kind
        r -= share
    return FATES[0][0], None, None
