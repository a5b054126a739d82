"""Sealing EDRs into hash-chained blocks, verifying them, and exporting them with the blocks.

The seal runs in the background (``tessera worker``, job ``seal``) over what has committed:
EDR inserts stay exactly as they were, and no write waits for the sealer or for another
write. Each tenant has its own chain, so tenants are sealed independently.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, UnitOfWork
from tessera.domain import edr_seal
from tessera.domain.edr import Edr
from tessera.domain.edr_seal import Block, Verification
from tessera.services.expiry import tenant_ids

BLOCK_SIZE = 5000


@dataclass
class SealReport:
    blocks: int = 0
    sealed: int = 0
    waiting: bool = False  # transactions were still running: nothing sealed past them


def seal_tenant(uow: UnitOfWork, horizon: int, block_size: int = BLOCK_SIZE) -> SealReport:
    """Seal this tenant's EDRs up to ``horizon`` (a settled id), a block per transaction.
    A sealer that loses a race for a block (another holds the lease too) stops there."""
    report = SealReport()
    while True:
        with uow:
            previous = uow.edr_blocks.last()
            after = 0 if previous is None else previous.last_id
            if after >= horizon:
                return report
            edrs = uow.edrs.between(after, horizon, block_size)
            if not edrs:
                return report
            last_id = edrs[-1].id if len(edrs) == block_size else horizon
            block = edr_seal.seal(uow.tenant_id, previous, last_id, edrs, uow.clock())
            try:
                uow.edr_blocks.add(block)
                uow.commit()
            except sa.exc.IntegrityError:
                return report
        report.blocks += 1
        report.sealed += len(edrs)


def seal_all(
    directory: Callable[[], DirectoryUnitOfWork],
    uow_for: Callable[[uuid.UUID], UnitOfWork],
    block_size: int = BLOCK_SIZE,
    wait_seconds: float = 5.0,
) -> SealReport:
    """Every tenant's EDRs up to the settled horizon (``waiting`` if transactions writing
    EDRs still ran after ``wait_seconds``: the next run seals them)."""
    with directory() as d:
        horizon = d.edr_horizon.settled(wait_seconds)
    report = SealReport(waiting=horizon is None)
    if horizon is None:
        return report
    for tenant_id in tenant_ids(directory()):
        done = seal_tenant(uow_for(tenant_id), horizon, block_size)
        report.blocks += done.blocks
        report.sealed += done.sealed
    return report


def _blocks_with_edrs(uow: UnitOfWork) -> Iterator[tuple[Block, Iterator[Edr]]]:
    for block in uow.edr_blocks.stream():
        yield block, uow.edrs.stream_between(block.after_id, block.last_id)


def verify_tenant(uow: UnitOfWork) -> Verification:
    """Every block of the tenant against the EDRs stored now; the first finding, if any."""
    with uow:
        result = edr_seal.verify_chain(_blocks_with_edrs(uow))
        if result.ok:
            last = uow.edr_blocks.last()
            result.unsealed = uow.edrs.count_after(0 if last is None else last.last_id)
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def edr_record(edr: Edr) -> dict[str, Any]:
    """An EDR as an export line carries it."""
    return {k: _jsonable(v) for k, v in asdict(edr).items()}


def export_sealed(uow: UnitOfWork) -> Iterator[str]:
    """JSON lines for an auditor: each block's EDRs (``{"edr": ...}``), then the block
    (``{"block": ...}``); the EDRs not yet sealed last. ``verify_file`` checks it offline."""
    with uow:
        last_id = 0
        for block, edrs in _blocks_with_edrs(uow):
            for edr in edrs:
                yield json.dumps({"edr": edr_record(edr)}, sort_keys=True) + "\n"
            yield json.dumps({"block": edr_seal.block_record(block)}, sort_keys=True) + "\n"
            last_id = block.last_id
        for edr in uow.edrs.stream_between(last_id, 2**63 - 1):
            yield json.dumps({"edr": edr_record(edr)}, sort_keys=True) + "\n"


class UnreadableExport(ValueError):
    pass


def verify_file(lines: Iterable[str]) -> Verification:
    """Checks an ``export_sealed`` file with nothing but the file: each block against the
    EDR lines before it, and the chain from the first block on."""

    def blocks() -> Iterator[tuple[Block, list[Edr]]]:
        pending: list[Edr] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if "edr" in record:
                    pending.append(edr_seal.edr_of(record["edr"]))
                elif "block" in record:
                    yield edr_seal.block_of(record["block"]), pending
                    pending = []
                else:
                    raise KeyError("edr or block")
            except (ValueError, KeyError, TypeError) as exc:
                raise UnreadableExport(f"line {number}: not an EDR or a block ({exc})") from exc
        unsealed.extend(pending)

    unsealed: list[Edr] = []
    result = edr_seal.verify_chain(blocks())
    result.unsealed = len(unsealed)
    return result
