"""Sealed EDRs: blocks of records whose hashes chain, so a change to any record shows.

A block covers every EDR of one tenant with an id in ``(after_id, last_id]``. It keeps, for
each of them, the id and the SHA-256 of the record's canonical form (every field), and its
hash covers those, its range, its place in the tenant's chain and the previous block's hash.
Verifying recomputes each record's digest and each block's hash: a record edited in place
no longer matches its digest, a removed one leaves a digest with no record, one inserted
into a sealed range has no digest, and a block edited to match breaks the next block's link.

Pure: the same functions check the database and an exported file.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tessera.domain.edr import Edr

GENESIS = "0" * 64  # the "previous hash" of a tenant's first block
_ENTRY = 8 + 32  # id (8 bytes, big-endian) + digest


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(edr: Edr) -> bytes:
    """Every field of the record, in one fixed form: sorted keys, no spaces, UTC times
    with microseconds, UUIDs in their hyphenated lower-case form."""
    record: dict[str, Any] = {
        "id": edr.id,
        "tenant_id": str(edr.tenant_id),
        "occurred_at": _moment(edr.occurred_at),
        "actor_key_id": None if edr.actor_key_id is None else str(edr.actor_key_id),
        "operation": edr.operation,
        "subject_type": edr.subject_type,
        "subject_id": edr.subject_id,
        "status_before": edr.status_before,
        "status_after": edr.status_after,
        "amount_minor": edr.amount_minor,
        "currency": edr.currency,
        "details": edr.details,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(edr: Edr) -> bytes:
    return hashlib.sha256(canonical(edr)).digest()


def pack(entries: Iterable[tuple[int, bytes]]) -> bytes:
    """The block's entries as bytes: id and digest, in id order."""
    return b"".join(i.to_bytes(8, "big") + d for i, d in entries)


def unpack(blob: bytes) -> list[tuple[int, bytes]]:
    if len(blob) % _ENTRY:
        raise ValueError("a block's entries are not whole")
    return [
        (int.from_bytes(blob[p : p + 8], "big"), blob[p + 8 : p + _ENTRY])
        for p in range(0, len(blob), _ENTRY)
    ]


@dataclass(frozen=True, slots=True)
class Block:
    tenant_id: uuid.UUID
    seq: int  # 1, 2, ... per tenant
    after_id: int  # the range covered: after_id < id <= last_id
    last_id: int
    entries: bytes  # pack()ed (id, digest) of every EDR in the range
    prev_hash: str
    hash: str
    sealed_at: datetime

    @property
    def count(self) -> int:
        return len(self.entries) // _ENTRY


def block_hash(
    tenant_id: uuid.UUID, seq: int, after_id: int, last_id: int, entries: bytes, prev_hash: str
) -> str:
    h = hashlib.sha256(b"tessera-edr-block-v1\n")
    h.update(f"{tenant_id}\n{seq}\n{after_id}\n{last_id}\n{prev_hash}\n".encode())
    h.update(entries)
    return h.hexdigest()


def seal(
    tenant_id: uuid.UUID,
    previous: Block | None,
    last_id: int,
    edrs: list[Edr],
    at: datetime,
) -> Block:
    """The next block of the chain, over ``edrs`` (every EDR after the previous block's
    range up to ``last_id``, in id order)."""
    seq = 1 if previous is None else previous.seq + 1
    after_id = 0 if previous is None else previous.last_id
    prev_hash = GENESIS if previous is None else previous.hash
    entries = pack((e.id, digest(e)) for e in edrs)
    return Block(
        tenant_id=tenant_id,
        seq=seq,
        after_id=after_id,
        last_id=last_id,
        entries=entries,
        prev_hash=prev_hash,
        hash=block_hash(tenant_id, seq, after_id, last_id, entries, prev_hash),
        sealed_at=at,
    )


class Breach(StrEnum):
    CHANGED = "changed"  # the record no longer matches its digest
    REMOVED = "removed"  # a sealed record is gone
    INSERTED = "inserted"  # a record in a sealed range that the block does not list
    BLOCK = "block_altered"  # the block itself, or its link to the previous one, was edited


@dataclass(frozen=True, slots=True)
class Finding:
    breach: Breach
    block_seq: int
    edr_id: int | None
    reason: str

    def describe(self) -> str:
        where = f"EDR {self.edr_id}" if self.edr_id is not None else "block"
        return f"{where} {self.breach.value} (block {self.block_seq}): {self.reason}"


@dataclass
class Verification:
    blocks: int = 0
    sealed: int = 0
    unsealed: int = 0  # records after the last block: not yet sealed, nothing to check
    first: Finding | None = None
    chain_head: str = GENESIS

    @property
    def ok(self) -> bool:
        return self.first is None


def check_block(block: Block, previous: Block | None, edrs: Iterable[Edr]) -> Finding | None:
    """The first thing wrong with one block and the records now in its range, or None."""
    seq = 1 if previous is None else previous.seq + 1
    after_id = 0 if previous is None else previous.last_id
    prev_hash = GENESIS if previous is None else previous.hash
    if block.seq != seq or block.after_id != after_id or block.prev_hash != prev_hash:
        return Finding(Breach.BLOCK, block.seq, None, "does not follow the previous block")
    recomputed = block_hash(
        block.tenant_id, block.seq, block.after_id, block.last_id, block.entries, block.prev_hash
    )
    if recomputed != block.hash:
        return Finding(Breach.BLOCK, block.seq, None, "its hash does not cover its contents")
    try:
        sealed: Iterator[tuple[int, bytes]] = iter(unpack(block.entries))
    except ValueError as exc:
        return Finding(Breach.BLOCK, block.seq, None, str(exc))
    expected = next(sealed, None)
    for edr in edrs:
        # Both sides are in id order: walk them together.
        if expected is not None and expected[0] < edr.id:
            return Finding(Breach.REMOVED, block.seq, expected[0], "sealed, no longer stored")
        if expected is None or expected[0] > edr.id:
            return Finding(Breach.INSERTED, block.seq, edr.id, "stored, never sealed")
        if digest(edr) != expected[1]:
            return Finding(Breach.CHANGED, block.seq, edr.id, "differs from what was sealed")
        expected = next(sealed, None)
    if expected is not None:
        return Finding(Breach.REMOVED, block.seq, expected[0], "sealed, no longer stored")
    return None


def verify_chain(blocks: Iterable[tuple[Block, Iterable[Edr]]]) -> Verification:
    """Every block in order with the records now in its range; stops at the first finding."""
    result = Verification()
    previous: Block | None = None
    for block, edrs in blocks:
        finding = check_block(block, previous, edrs)
        if finding is not None:
            result.first = finding
            return result
        result.blocks += 1
        result.sealed += block.count
        result.chain_head = block.hash
        previous = block
    return result


def block_record(block: Block) -> dict[str, Any]:
    """A block as an export line carries it (the entries as hex)."""
    return {
        "tenant_id": str(block.tenant_id),
        "seq": block.seq,
        "after_id": block.after_id,
        "last_id": block.last_id,
        "count": block.count,
        "prev_hash": block.prev_hash,
        "hash": block.hash,
        "sealed_at": _moment(block.sealed_at),
        "entries": block.entries.hex(),
    }


def block_of(record: dict[str, Any]) -> Block:
    return Block(
        tenant_id=uuid.UUID(record["tenant_id"]),
        seq=int(record["seq"]),
        after_id=int(record["after_id"]),
        last_id=int(record["last_id"]),
        entries=bytes.fromhex(record["entries"]),
        prev_hash=str(record["prev_hash"]),
        hash=str(record["hash"]),
        sealed_at=datetime.fromisoformat(record["sealed_at"]),
    )


def edr_of(record: dict[str, Any]) -> Edr:
    """An EDR back from its export line (the fields ``tessera edrs export`` writes)."""
    actor = record.get("actor_key_id")
    return Edr(
        id=int(record["id"]),
        tenant_id=uuid.UUID(record["tenant_id"]),
        occurred_at=datetime.fromisoformat(record["occurred_at"]),
        actor_key_id=None if actor is None else uuid.UUID(actor),
        operation=record["operation"],
        subject_type=record["subject_type"],
        subject_id=record["subject_id"],
        status_before=record.get("status_before"),
        status_after=record.get("status_after"),
        amount_minor=record.get("amount_minor"),
        currency=record.get("currency"),
        details=record.get("details") or {},
    )
