"""Voucher lists: create, change, read; and redemptions the partner reports back."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from tessera.adapters.db.repositories.lists import UploadRecord
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid, NotFound, refuse_nulls
from tessera.domain.ids import new_id
from tessera.domain.lists import (
    CodeState,
    ListSpec,
    ListStatus,
    Utilization,
    VoucherList,
    check_status_change,
    validate_code,
)
from tessera.domain.paging import Page
from tessera.services.csv_files import PROBLEMS_SHOWN, TooLong, read_csv

REDEEM_CHUNK = 1000  # codes checked per statement


def list_or_404(uow: UnitOfWork, list_id: uuid.UUID) -> VoucherList:
    voucher_list = uow.lists.get(list_id)
    if voucher_list is None:
        raise NotFound("no such voucher list", code="list_not_found")
    return voucher_list


def create_list(uow: UnitOfWork, spec: ListSpec) -> VoucherList:
    spec = spec.validated()
    with uow:
        if uow.lists.name_taken(spec.name):
            raise Conflict(f"a voucher list named '{spec.name}' already exists", code="name_taken")
        now = uow.clock()
        voucher_list = VoucherList(
            id=new_id(),
            spec=spec,
            set_status=ListStatus.ACTIVE,
            utilization=Utilization(0, 0, 0),
            low_stock_armed=True,
            created_at=now,
            updated_at=now,
        )
        uow.lists.add(voucher_list)
        uow.edrs.append(_list_edr("list.create", voucher_list, None, now), now)
        uow.commit()
    return voucher_list


def update_list(uow: UnitOfWork, list_id: uuid.UUID, changes: dict[str, Any]) -> VoucherList:
    """Change the metadata or the status (active, paused, archived; archived is final)."""
    refuse_nulls(changes, frozenset({"ends_at", "description"}))
    status = changes.pop("status", None)
    if changes.get("description", "") is None:
        changes["description"] = ""
    with uow:
        now = uow.clock()
        current = list_or_404(uow, list_id)
        before = current.status(now)
        spec = dataclasses.replace(current.spec, **changes).validated()
        if spec.name != current.spec.name and uow.lists.name_taken(spec.name, except_id=list_id):
            raise Conflict(f"a voucher list named '{spec.name}' already exists", code="name_taken")
        set_status = current.set_status
        if status is not None:
            set_status = ListStatus(status)
            check_status_change(current, set_status)
        updated = dataclasses.replace(current, spec=spec, set_status=set_status, updated_at=now)
        uow.lists.update(updated)
        uow.edrs.append(_list_edr("list.update", updated, before, now), now)
        uow.commit()
    return updated


def get_list(uow: UnitOfWork, list_id: uuid.UUID) -> VoucherList:
    with uow:
        return list_or_404(uow, list_id)


def find_list(uow: UnitOfWork, ref: str) -> VoucherList:
    """By id or by name (the CLI takes either)."""
    with uow:
        try:
            found = uow.lists.get(uuid.UUID(ref))
        except ValueError:
            found = uow.lists.by_name(ref)
    if found is None:
        raise NotFound(f"no voucher list '{ref}'", code="list_not_found")
    return found


def list_lists(
    uow: UnitOfWork,
    cursor: str | None,
    limit: int,
    status: ListStatus | None = None,
    partner: str | None = None,
) -> Page[VoucherList]:
    with uow:
        return uow.lists.list(cursor, limit, uow.clock(), status, partner)


def list_uploads(
    uow: UnitOfWork, list_id: uuid.UUID, cursor: str | None, limit: int
) -> Page[UploadRecord]:
    with uow:
        list_or_404(uow, list_id)
        return uow.list_uploads.list(list_id, cursor, limit)


def _list_edr(
    operation: str, voucher_list: VoucherList, before: ListStatus | None, now: datetime
) -> EdrDraft:
    spec = voucher_list.spec
    return EdrDraft(
        operation,
        "voucher_list",
        str(voucher_list.id),
        status_before=before.value if before else None,
        status_after=voucher_list.status(now).value,
        details={
            "partner": spec.partner,
            "name": spec.name,
            "low_stock_percent": spec.low_stock_percent,
            "codes_per_subscriber": spec.codes_per_subscriber,
            "ends_at": spec.ends_at.isoformat() if spec.ends_at else None,
        },
    )


# --- Redemptions reported by the partner --------------------------------------------------


@dataclass(frozen=True, slots=True)
class RowIssue:
    line: int
    kind: str
    reason: str


@dataclass
class RedemptionReport:
    list_id: uuid.UUID
    received: int = 0
    redeemed: int = 0
    already_redeemed: int = 0
    refused: int = 0
    problems: list[RowIssue] = field(default_factory=list)
    problems_truncated: bool = False
    utilization: Utilization | None = None

    def refuse(self, line: int, kind: str, reason: str) -> None:
        self.refused += 1
        if len(self.problems) < PROBLEMS_SHOWN:
            self.problems.append(RowIssue(line, kind, reason))
        else:
            self.problems_truncated = True


def report_redemptions(
    uow: UnitOfWork,
    list_id: uuid.UUID,
    codes: Iterable[tuple[int, str | TooLong]],
    redeemed_at: datetime,
) -> RedemptionReport:
    """Codes the partner says were used on its side: issued codes become redeemed.

    Idempotent: a code reported twice counts once (``already_redeemed`` the second time).
    Codes that are not in the list, or were never given to anyone, are refused by line.
    """
    report = RedemptionReport(list_id)
    with uow:
        list_or_404(uow, list_id)
        chunk: dict[bytes, int] = {}
        for line, raw in codes:
            report.received += 1
            if isinstance(raw, TooLong):
                report.refuse(line, "invalid", raw.reason)
                continue
            try:
                code = validate_code(raw)
            except ValueError as exc:
                report.refuse(line, "invalid", str(exc))
                continue
            code_hash = uow.sealer.hash(code)
            if code_hash in chunk:
                report.refuse(line, "duplicate", f"duplicate of line {chunk[code_hash]}")
                continue
            chunk[code_hash] = line
            if len(chunk) >= REDEEM_CHUNK:
                _redeem_chunk(uow, list_id, chunk, redeemed_at, report)
                chunk = {}
        _redeem_chunk(uow, list_id, chunk, redeemed_at, report)
        report.problems.sort(key=lambda p: p.line)
        if report.redeemed:
            uow.lists.count(list_id, redeemed=report.redeemed)
        now = uow.clock()
        uow.edrs.append(
            EdrDraft(
                "list.redeem",
                "voucher_list",
                str(list_id),
                details={
                    "received": report.received,
                    "redeemed": report.redeemed,
                    "already_redeemed": report.already_redeemed,
                    "refused": report.refused,
                    "redeemed_at": redeemed_at.isoformat(),
                },
            ),
            now,
        )
        report.utilization = list_or_404(uow, list_id).utilization
        uow.commit()
    return report


def _redeem_chunk(
    uow: UnitOfWork,
    list_id: uuid.UUID,
    chunk: dict[bytes, int],
    at: datetime,
    report: RedemptionReport,
) -> None:
    if not chunk:
        return
    hashes = list(chunk)
    done = uow.list_codes.redeem(list_id, hashes, at)
    report.redeemed += len(done)
    rest = [h for h in hashes if h not in done]
    origins = uow.list_codes.origins(list_id, rest) if rest else {}
    for code_hash in rest:
        origin = origins.get(code_hash)
        if origin is None:
            report.refuse(chunk[code_hash], "unknown_code", "is not a code of this list")
        elif origin.state is CodeState.REDEEMED:
            report.already_redeemed += 1
        else:
            report.refuse(
                chunk[code_hash], "not_issued", "was never given to a subscriber: not redeemable"
            )


def redemption_rows(stream: BinaryIO) -> Iterator[tuple[int, str | TooLong]]:
    """(line, code) from a CSV with a ``code`` column, for ``report_redemptions``."""
    header, records = read_csv(stream)
    names = [h.strip().lower() for h in header]
    if "code" not in names:
        raise Invalid("file", "the header has no 'code' column", code="csv_no_code_column")
    at = names.index("code")
    for line, fields in records:
        if isinstance(fields, TooLong):
            yield line, fields
        else:
            yield line, fields[at] if at < len(fields) else ""
