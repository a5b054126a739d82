"""Batches: create, generate (in chunks), operate on a whole batch or a serial range,
hand out the print file once, and fail generations whose worker died.

Generation commits once per chunk, so a million vouchers never sit in one transaction; that
is safe because the vouchers of a generating batch are pending (unusable), and a batch whose
worker is gone is failed and its partial vouchers deleted (``fail_abandoned_batches``).
The generating loop runs several transactions, so it enters its unit of work once per chunk.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tessera.adapters import print_files
from tessera.adapters.db.repositories.batches import (
    GeneratingBatch,
    VoucherConstants,
    VoucherRow,
)
from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, UnitOfWork
from tessera.domain.batches import (
    Batch,
    BatchOperation,
    BatchRequest,
    BatchState,
    SerialRange,
    next_batch_state,
    print_file_header,
    print_row_suffix,
    serial_range,
    voucher_operation,
)
from tessera.domain.catalog import VoucherType
from tessera.domain.code_hash import code_hashes
from tessera.domain.codes import CodeFormat, generate_codes
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Gone, NotFound
from tessera.domain.ids import new_id
from tessera.domain.lifecycle import Lifecycle
from tessera.domain.paging import Page
from tessera.domain.revenue import Movement, movement, revenue_edr
from tessera.domain.statuses import next_status, sources
from tessera.domain.voucher_counts import status_of

MAX_COLLISION_ROUNDS = 20  # each round regenerates only the codes that collided

Progress = Callable[[int, int], None]  # (generated, requested)

# Batches this process is generating right now: a batch marked with this process's pid
# but absent here belongs to an earlier process that had the same pid (containers reuse
# pid 1), so it is abandoned.
_running: set[uuid.UUID] = set()
_running_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class BatchView:
    batch: Batch
    voucher_counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class BatchChange:
    batch: Batch
    operation: BatchOperation
    serials: SerialRange
    count: int  # vouchers whose status changed


def _batch_or_404(uow: UnitOfWork, batch_id: uuid.UUID, *, for_update: bool = False) -> Batch:
    batch = uow.batches.get(batch_id, for_update=for_update)
    if batch is None:
        raise NotFound("no such batch", code="batch_not_found")
    return batch


def create_batch(
    uow: UnitOfWork, request: BatchRequest, print_dir: Path, print_file: Path | None = None
) -> Batch:
    """Checks the request, reserves the serial range and records the batch as generating.

    The print file goes to ``print_file`` if given (the CLI), else into ``print_dir``.
    """
    with uow:
        voucher_type = uow.voucher_types.get(request.voucher_type_id)
        if voucher_type is None:
            raise NotFound("no such voucher type", code="voucher_type_not_found")
        request.validated(voucher_type)
        now = uow.clock()
        batch_id = new_id()
        first = uow.serials.reserve(request.count)
        path = print_file or print_dir / f"batch-{batch_id}.csv"
        batch = Batch(
            id=batch_id,
            voucher_type_id=voucher_type.id,
            lifecycle_id=voucher_type.spec.lifecycle_id,
            state=BatchState.GENERATING,
            requested=request.count,
            generated=0,
            code_format=request.code_format,
            serials=SerialRange(first, first + request.count - 1),
            include_cost=request.include_cost,
            print_file=str(path.resolve()),
            print_file_sha256=None,
            print_file_fetched_at=None,
            error=None,
            worker_pid=os.getpid(),
            worker_host=socket.gethostname(),
            created_at=now,
            updated_at=now,
        )
        uow.batches.add(batch)
        uow.edrs.append(
            EdrDraft(
                "batch.create",
                "batch",
                str(batch.id),
                status_after=batch.state.value,
                details={
                    "voucher_type_id": str(voucher_type.id),
                    "requested": request.count,
                    "serial_first": batch.serials.first,
                    "serial_last": batch.serials.last,
                    "code_format": request.code_format.to_dict(),
                },
            ),
            now,
        )
        uow.commit()
    return batch


def generate_batch(
    uow: UnitOfWork,
    batch_id: uuid.UUID,
    secret: bytes,
    *,
    progress: Progress | None = None,
    hand_over: bool = False,
    chunk_size: int | None = None,
) -> Batch:
    """Generates, stores and prints every voucher of a batch made by ``create_batch``.

    ``hand_over``: the print file was written where the caller asked (the CLI), so it is
    recorded as delivered and the API will not serve it. On any error the batch is failed.
    ``chunk_size``: vouchers per transaction; by default what suits the store.
    """
    try:
        with uow:
            batch = _batch_or_404(uow, batch_id)
            chunk_size = chunk_size or uow.batch_vouchers.chunk_size
            overlap = uow.batch_vouchers.overlaps_work
            voucher_type = uow.voucher_types.get(batch.voucher_type_id)
            lifecycle = uow.lifecycles.get(batch.lifecycle_id)
        if batch.state is not BatchState.GENERATING:
            raise Conflict(f"the batch is {batch.state.value}", code="batch_not_generating")
        assert voucher_type is not None  # foreign keys
        assert lifecycle is not None
        will_generate_here(batch.id)  # the CLI's own generation; the API marked it queued
        chunks = _prepared(batch.serials, chunk_size, batch.code_format, secret)
        if overlap:
            chunks = _ahead(chunks)
        sha256 = _generate(uow, batch, voucher_type, lifecycle, secret, progress, chunks)
        with uow:
            now = uow.clock()
            extra = {"print_file_fetched_at": now} if hand_over else {}
            if not uow.batches.change(
                batch.id,
                BatchState.GENERATING,
                now,
                state=BatchState.GENERATED.value,
                generated=batch.requested,
                print_file_sha256=sha256,
                **extra,
            ):
                raise _abandoned(batch.id)
            uow.edrs.append(
                EdrDraft(
                    "batch.generate",
                    "batch",
                    str(batch.id),
                    status_before=BatchState.GENERATING.value,
                    status_after=BatchState.GENERATED.value,
                    details={
                        "count": batch.requested,
                        "serial_first": batch.serials.first,
                        "serial_last": batch.serials.last,
                        "print_file_sha256": sha256,
                        "print_file_handed_over": hand_over,
                    },
                ),
                now,
            )
            uow.commit()
            return _batch_or_404(uow, batch_id)
    except BaseException as error:
        fail_batch(uow, batch_id, f"generation failed: {error!r}"[:500])
        raise
    finally:
        with _running_lock:
            _running.discard(batch_id)


def _abandoned(batch_id: uuid.UUID) -> Conflict:
    return Conflict(
        "the batch stopped being generated (it was failed meanwhile)",
        code="batch_not_generating",
        batch_id=str(batch_id),
    )


def _generate(
    uow: UnitOfWork,
    batch: Batch,
    voucher_type: VoucherType,
    lifecycle: Lifecycle,
    secret: bytes,
    progress: Progress | None,
    chunks: Iterator[_Chunk],
) -> str:
    constants = VoucherConstants(
        batch.id, batch.voucher_type_id, batch.lifecycle_id, issued_at=batch.created_at
    )
    suffix = print_row_suffix(
        voucher_type, lifecycle.rules, batch.id, batch.created_at, batch.include_cost
    )
    assert batch.print_file is not None
    with print_files.PrintFileWriter(Path(batch.print_file)) as out:
        out.write(print_file_header(batch.include_cost))
        done = 0
        for chunk in chunks:
            with uow:
                # First statement of the chunk: the heartbeat, and the row lock that orders
                # this chunk against a recovery that might be failing the batch.
                if not uow.batches.change(
                    batch.id, BatchState.GENERATING, uow.clock(), generated=done + chunk.count
                ):
                    raise _abandoned(batch.id)
                codes = _store_chunk(uow, constants, chunk, batch.code_format, secret)
                uow.commit()
                uow.batch_vouchers.end_chunk()
            rows = zip(chunk_serials(chunk.serials), codes, strict=True)
            out.write("".join([f"{serial},{code},{suffix}" for serial, code in rows]))
            done += chunk.count
            if progress is not None:
                progress(done, batch.requested)
        return out.finish()


@dataclass(frozen=True, slots=True)
class _Chunk:
    serials: SerialRange
    codes: list[str]  # in serial order
    rows: list[VoucherRow]

    @property
    def count(self) -> int:
        return self.serials.count


def _prepared(serials: SerialRange, size: int, fmt: CodeFormat, secret: bytes) -> Iterator[_Chunk]:
    for first in range(serials.first, serials.last + 1, size):
        chunk = SerialRange(first, min(first + size - 1, serials.last))
        codes, rows = _rows(fmt, secret, list(chunk_serials(chunk)))
        yield _Chunk(chunk, codes, rows)


def _ahead(items: Iterator[_Chunk]) -> Iterator[_Chunk]:
    """Prepares the next chunk in a thread while the database stores this one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-prepare") as pool:
        pending = pool.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, items, None)
            yield item


def chunk_serials(chunk: SerialRange) -> range:
    return range(chunk.first, chunk.last + 1)


def _rows(fmt: CodeFormat, secret: bytes, serials: list[int]) -> tuple[list[str], list[VoucherRow]]:
    """Fresh codes for ``serials``, in serial order, and their rows.

    The codes are handed to the serials in the order of their hashes: both unique indexes
    (serial, code hash) then receive ascending keys within a chunk, which keeps B-tree
    inserts local. The hash is keyed, so the order says nothing about the codes.
    """
    codes = generate_codes(fmt, len(serials))
    pairs = sorted(zip(code_hashes(secret, codes), codes, strict=True))
    rows = [(s, h, c[-4:]) for s, (h, c) in zip(serials, pairs, strict=True)]
    return [c for _h, c in pairs], rows


def _store_chunk(
    uow: UnitOfWork,
    constants: VoucherConstants,
    chunk: _Chunk,
    fmt: CodeFormat,
    secret: bytes,
) -> list[str]:
    """Stores a chunk and returns its codes in serial order. A code whose hash is taken gets
    a fresh code for the same serial, so the batch's serials stay contiguous."""
    codes, rows = list(chunk.codes), chunk.rows
    for _round in range(MAX_COLLISION_ROUNDS):
        if uow.batch_vouchers.insert(constants, rows) == len(rows):
            return codes
        present = uow.batch_vouchers.serials_present(constants.batch_id, chunk.serials)
        missing = [s for s in chunk_serials(chunk.serials) if s not in present]
        fresh, rows = _rows(fmt, secret, missing)
        for serial, code in zip(missing, fresh, strict=True):
            codes[serial - chunk.serials.first] = code
    raise Conflict(
        "could not find unused codes; the tenant's code space is nearly exhausted",
        code="code_space_exhausted",
    )


def fail_batch(uow: UnitOfWork, batch_id: uuid.UUID, reason: str) -> bool:
    """Fails a generating batch: its partial vouchers are deleted in one statement (they
    were never usable) and its print file removed. False if it was not generating."""
    with uow:
        batch = uow.batches.get(batch_id, for_update=True)
        if batch is None or batch.state is not BatchState.GENERATING:
            return False
        now = uow.clock()
        failed = BatchState.FAILED.value
        uow.batches.change(batch.id, BatchState.GENERATING, now, state=failed, error=reason)
        removed = uow.batch_vouchers.delete_batch(batch.id)
        uow.edrs.append(
            EdrDraft(
                "batch.fail",
                "batch",
                str(batch.id),
                status_before=BatchState.GENERATING.value,
                status_after=BatchState.FAILED.value,
                details={
                    "reason": reason,
                    "serial_first": batch.serials.first,
                    "serial_last": batch.serials.last,
                    "vouchers_removed": removed,
                },
            ),
            now,
        )
        uow.commit()
    if batch.print_file:
        print_files.discard(Path(batch.print_file))
    return True


def will_generate_here(batch_id: uuid.UUID) -> None:
    """Marks a batch this process has queued for generation (a server generates one at a
    time on SQLite): waiting its turn, without a heartbeat yet, it is not abandoned."""
    with _running_lock:
        _running.add(batch_id)


def _worker_gone(batch: GeneratingBatch, stale: bool) -> bool:
    if batch.worker_pid == os.getpid() and batch.worker_host == socket.gethostname():
        with _running_lock:  # this process knows, whatever the heartbeat says
            return batch.id not in _running
    if stale:
        return True
    if batch.worker_pid is None or batch.worker_host != socket.gethostname():
        return False  # another machine: only its heartbeat can tell
    try:
        os.kill(batch.worker_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    return False


def fail_abandoned_batches(
    directory: DirectoryUnitOfWork,
    uow_for: Callable[[uuid.UUID], UnitOfWork],
    heartbeat_timeout: timedelta,
) -> list[uuid.UUID]:
    """Fails every batch left generating by a worker that is gone: a process killed
    mid-generation (checked by pid on this host) or silent longer than the timeout."""
    with directory:
        candidates = directory.generating_batches.all()
        now = directory.clock()
    failed = []
    for candidate in candidates:
        if _worker_gone(candidate, stale=now - candidate.updated_at > heartbeat_timeout):
            reason = "the generating process stopped before the batch was complete"
            if fail_batch(uow_for(candidate.tenant_id), candidate.id, reason):
                failed.append(candidate.id)
    return failed


def get_batch(uow: UnitOfWork, batch_id: uuid.UUID) -> BatchView:
    with uow:
        batch = _batch_or_404(uow, batch_id)
        return BatchView(batch, uow.batch_vouchers.counts(batch.id))


def list_batches(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[Batch]:
    with uow:
        return uow.batches.list(cursor, limit)


def operate(
    uow: UnitOfWork,
    batch_id: uuid.UUID,
    operation: BatchOperation,
    serial_from: int | None = None,
    serial_to: int | None = None,
) -> BatchChange:
    """Activate, freeze, unfreeze or cancel a whole batch or a serial range of it: one bulk
    update of the vouchers, the batch's state, and one EDR with the range and the count."""
    with uow:
        batch = _batch_or_404(uow, batch_id, for_update=True)
        serials, ranged = serial_range(batch.serials, serial_from, serial_to)
        new_state = next_batch_state(batch.state, operation, ranged=ranged)
        now = uow.clock()
        voucher_op = voucher_operation(operation)
        moved = uow.batch_vouchers.transition(batch.id, serials, voucher_op, now)
        count = sum(moved.values())
        revenue: dict[Movement | None, int] = {}
        for state, n in moved.items():
            kind = movement(status_of(state), next_status(status_of(state), voucher_op))
            revenue[kind] = revenue.get(kind, 0) + n
        discard_print_file = new_state is BatchState.CANCELED and batch.print_file is not None
        extra = {"print_file": None} if discard_print_file else {}
        uow.batches.change(batch.id, batch.state, now, state=new_state.value, **extra)
        uow.edrs.append(
            EdrDraft(
                f"batch.{operation.value}",
                "batch",
                str(batch.id),
                status_before=batch.state.value,
                status_after=new_state.value,
                details={
                    "serial_from": serials.first,
                    "serial_to": serials.last,
                    "whole_batch": not ranged,
                    "count": count,
                    "voucher_operation": voucher_op.value,
                    "voucher_statuses_from": sorted(s.value for s in sources(voucher_op)),
                    "moved": {state: n for state, n in moved.items() if n},
                },
            ),
            now,
        )
        uow.edrs.append_many(_revenue_edrs(uow, batch, revenue, f"batch.{operation.value}"), now)
        uow.commit()
        updated = _batch_or_404(uow, batch.id)
    if discard_print_file and batch.print_file:  # canceled: its codes must not be printed
        print_files.discard(Path(batch.print_file))
    return BatchChange(updated, operation, serials, count)


def _revenue_edrs(
    uow: UnitOfWork, batch: Batch, moved: dict[Movement | None, int], cause: str
) -> list[EdrDraft]:
    """One revenue EDR per movement for the whole range (the count times the cost)."""
    voucher_type = uow.voucher_types.get(batch.voucher_type_id)
    assert voucher_type is not None  # types are never deleted
    spec = voucher_type.spec
    drafts = []
    for kind, count in moved.items():
        if kind is None:
            continue
        draft = revenue_edr(
            kind,
            cost_minor=spec.cost_minor,
            currency=spec.currency,
            voucher_type_id=batch.voucher_type_id,
            batch_id=batch.id,
            subject_type="batch",
            subject_id=str(batch.id),
            effective_at=uow.clock(),
            cause=cause,
            vouchers=count,
        )
        if draft is not None:
            drafts.append(draft)
    return drafts


def take_print_file(uow: UnitOfWork, batch_id: uuid.UUID) -> Iterator[bytes]:
    """The print file's content, once: it is marked fetched and removed from disk."""
    with uow:
        batch = _batch_or_404(uow, batch_id, for_update=True)
        if batch.state is BatchState.GENERATING:
            raise Conflict(
                "the batch is still being generated",
                code="batch_generating",
                generated=batch.generated,
                requested=batch.requested,
            )
        now = uow.clock()
        if batch.print_file is None or not uow.batches.take_print_file(batch.id, now):
            raise _print_file_gone(batch)
        uow.edrs.append(
            EdrDraft(
                "batch.print_file",
                "batch",
                str(batch.id),
                details={"print_file_sha256": batch.print_file_sha256},
            ),
            now,
        )
        uow.commit()
    chunks = print_files.take(Path(batch.print_file))
    if chunks is None:
        raise _print_file_gone(batch)
    return chunks


def _print_file_gone(batch: Batch) -> Gone:
    if batch.print_file_fetched_at is not None:
        why = f"it was fetched at {batch.print_file_fetched_at.isoformat()}"
    else:
        why = f"the batch is {batch.state.value}"
    return Gone(f"the print file is no longer available: {why}", code="print_file_gone")
