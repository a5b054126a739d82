"""Vouchers: found by code hash or serial, changed only by compare-and-set on their status.

``transition`` is the guard that makes redemption exactly-once: ``UPDATE ... WHERE id = ..
AND status = :expected RETURNING``. Of two transactions racing for one voucher, the second
waits on the row lock (PostgreSQL) or the database lock (SQLite), then matches no row.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped, shared_with, sharers_of
from tessera.adapters.db.repositories.catalog import _lifecycle, _voucher_type
from tessera.adapters.db.repositories.subscribers import _subscriber
from tessera.domain.catalog import VoucherType
from tessera.domain.lifecycle import Lifecycle
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.domain.wallet import Subscriber

v, vt, lc, fa, sb = t.vouchers, t.voucher_types, t.lifecycles, t.failed_attempts, t.subscribers


def _voucher(row: sa.RowMapping) -> Voucher:
    return Voucher(
        id=row["id"],
        serial=row["serial"],
        code_last4=row["code_last4"],
        voucher_type_id=row["voucher_type_id"],
        lifecycle_id=row["lifecycle_id"],
        batch_id=row["batch_id"],
        status=VoucherStatus(row["status"]),
        issued_at=row["issued_at"],
        activated_at=row["activated_at"],
        reserved_until=row["reserved_until"],
        status_changed_at=row["status_changed_at"],
        subscriber_id=row["subscriber_id"],
        replaces_id=row["replaces_id"],
        value_spent_minor=row.get("value_spent_minor") or 0,
    )


@dataclass(frozen=True, slots=True)
class VoucherView:
    """A voucher with what the rules need: its type as it is now, and its own lifecycle."""

    voucher: Voucher
    voucher_type: VoucherType
    lifecycle: Lifecycle
    barred_until: datetime | None = None
    subscriber: Subscriber | None = None
    shared: SharedUse | None = None  # a marketplace voucher of another tenant of the group


@dataclass(frozen=True, slots=True)
class SharedUse:
    """A marketplace voucher found at a brand it is shared with: who issued it, who uses it."""

    issuer_id: uuid.UUID
    redeemer_id: uuid.UUID


def _prefixed(row: sa.RowMapping, prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: value for k, value in row.items() if k.startswith(prefix)}


@functools.cache
def _view_statement(
    by_code: bool,
    with_bar: bool,
    with_subscriber: bool,
    locked: bool = False,
    shared: bool = False,
) -> sa.Select[Any]:
    """Built once per shape, with bound parameters: building a 40-column join per request
    costs more than running it. Tenant scoping is explicit here (``:tenant``). ``locked``:
    the voucher's row is locked until the transaction ends (PostgreSQL; SQLite's writer
    holds the database already). ``shared``: the caller's own voucher of the key, else one
    of another tenant whose type it shares with ``:tenant`` (base.shared_with), in one
    statement (a probe of the unique index per tenant: the caller and each sharer); the bar
    and the subscriber stay the caller's."""
    tenant = sa.bindparam("tenant", type_=sa.Uuid)
    columns: list[Any] = [*v.c]
    columns += [c.label(f"vt_{c.key}") for c in vt.c]
    columns += [c.label(f"lc_{c.key}") for c in lc.c]
    # The type and lifecycle must be the voucher's tenant's too (vouchers carry no foreign
    # keys for them), so the join says so.
    source = v.join(
        vt, sa.and_(vt.c.id == v.c.voucher_type_id, vt.c.tenant_id == v.c.tenant_id)
    ).join(lc, sa.and_(lc.c.id == v.c.lifecycle_id, lc.c.tenant_id == v.c.tenant_id))
    if with_bar:
        bar = (
            sa.select(sa.func.max(fa.c.barred_until))
            .where(fa.c.tenant_id == tenant, fa.c.scope.in_(sa.bindparam("scopes", expanding=True)))
            .scalar_subquery()
        )
        columns.append(bar.label("barred_until"))
    if with_subscriber:
        columns += [c.label(f"sb_{c.key}") for c in sb.c]
        source = source.outerjoin(
            sb,
            sa.and_(
                sb.c.tenant_id == tenant,
                sb.c.external_id == sa.bindparam("external_id", type_=sa.String),
            ),
        )
    key = v.c.code_hash if by_code else v.c.serial
    if shared:
        reachable = sa.union(sa.select(tenant), sharers_of(tenant))
        owner = sa.and_(
            v.c.tenant_id.in_(reachable), sa.or_(v.c.tenant_id == tenant, shared_with(v, tenant))
        )
    else:
        owner = v.c.tenant_id == tenant
    stmt = sa.select(*columns).select_from(source).where(owner, key == sa.bindparam("key"))
    if shared:  # the caller's own first, should another tenant's code hash be the same
        stmt = stmt.order_by((v.c.tenant_id == tenant).desc()).limit(sa.literal_column("1"))
    return stmt.with_for_update(of=v) if locked else stmt


def _guard(
    voucher: Voucher,
    expected: VoucherStatus,
    now: datetime,
    spent: tuple[int, int] | None,
    values: dict[str, Any],
) -> sa.ColumnElement[bool]:
    """The compare-and-set's condition (``transition``); a stored value's new spent amount
    goes into ``values``."""
    if expected is VoucherStatus.AVAILABLE and voucher.status is VoucherStatus.RESERVED:
        guard = sa.and_(v.c.status == VoucherStatus.RESERVED.value, v.c.reserved_until <= now)
    else:
        guard = v.c.status == expected.value
    if spent is not None:
        guard = sa.and_(guard, sa.func.coalesce(v.c.value_spent_minor, 0) == spent[0])
        values["value_spent_minor"] = spent[1]
    return guard


def shared_use(owner: uuid.UUID, caller: uuid.UUID) -> SharedUse | None:
    """A voucher of ``owner`` found by ``caller``: a marketplace use when they differ."""
    return None if owner == caller else SharedUse(owner, caller)


class VoucherRepository(TenantScoped):
    table = v

    def view(
        self,
        *,
        code_hash: bytes | None = None,
        serial: int | None = None,
        bar_scopes: Sequence[str] = (),
        subscriber: str | None = None,
        locked: bool = False,
        shared: bool = False,
    ) -> VoucherView | None:
        """One round trip: the voucher, its type, its lifecycle, any bar on the caller and
        the subscriber named in the request (when it exists). ``locked``: hold the voucher's
        row to the end of the transaction (a stored value's use after a lost race).
        ``shared``: the voucher of ``code_hash`` among the types other tenants of the group
        share with this one."""
        if (code_hash is None) == (serial is None) or (shared and code_hash is None):
            raise ValueError("a code hash or a serial is required (a code hash when shared)")
        stmt = _view_statement(
            code_hash is not None, bool(bar_scopes), subscriber is not None, locked, shared
        )
        params: dict[str, Any] = {
            "tenant": self.tenant_id,
            "key": code_hash if code_hash is not None else serial,
            "scopes": list(bar_scopes),
            "external_id": subscriber,
        }
        row = self.conn.execute(stmt, params).mappings().first()
        if row is None:
            return None
        found = None
        if subscriber is not None and row["sb_id"] is not None:
            found = _subscriber(_prefixed(row, "sb_"))  # type: ignore[arg-type]
        return VoucherView(
            voucher=_voucher(row),
            voucher_type=_voucher_type(_prefixed(row, "vt_")),  # type: ignore[arg-type]
            lifecycle=_lifecycle(_prefixed(row, "lc_")),  # type: ignore[arg-type]
            barred_until=row.get("barred_until"),
            subscriber=found,
            shared=shared_use(row["tenant_id"], self.tenant_id),
        )

    def get(self, voucher_id: int) -> Voucher | None:
        row = self.conn.execute(self._select().where(v.c.id == voucher_id)).mappings().first()
        return None if row is None else _voucher(row)

    def replacement_of(self, voucher_id: int) -> Voucher | None:
        """The voucher a reissue made in place of this one."""
        row = self.conn.execute(self._select().where(v.c.replaces_id == voucher_id))
        found = row.mappings().first()
        return None if found is None else _voucher(found)

    def by_serial(self, serial: int) -> Voucher | None:
        row = self.conn.execute(self._select().where(v.c.serial == serial)).mappings().first()
        return None if row is None else _voucher(row)

    def add(
        self,
        *,
        serial: int,
        code_hash: bytes,
        code_last4: str,
        voucher_type_id: uuid.UUID,
        lifecycle_id: uuid.UUID,
        status: VoucherStatus,
        issued_at: datetime,
        activated_at: datetime | None,
        reserved_until: datetime | None,
        now: datetime,
        subscriber_id: uuid.UUID | None = None,
        replaces_id: int | None = None,
        batch_id: uuid.UUID | None = None,
        value_spent_minor: int | None = None,
    ) -> Voucher:
        stmt = self._insert(
            serial=serial,
            code_hash=code_hash,
            code_last4=code_last4,
            voucher_type_id=voucher_type_id,
            lifecycle_id=lifecycle_id,
            batch_id=batch_id,
            status=status.value,
            issued_at=issued_at,
            activated_at=activated_at,
            reserved_until=reserved_until,
            status_changed_at=now,
            subscriber_id=subscriber_id,
            replaces_id=replaces_id,
            value_spent_minor=value_spent_minor,
        ).returning(*v.c)
        return _voucher(self.conn.execute(stmt).mappings().one())

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Bulk insert of prepared rows (benchmarks and tests); ``tenant_id`` is added here."""
        if rows:
            self.conn.execute(sa.insert(v), [{**row, "tenant_id": self.tenant_id} for row in rows])

    def transition(
        self,
        voucher: Voucher,
        expected: VoucherStatus,
        new: VoucherStatus,
        now: datetime,
        *,
        spent: tuple[int, int] | None = None,
        **values: Any,
    ) -> Voucher | None:
        """Compare-and-set: move ``voucher`` to ``new`` only if it is still ``expected``.

        ``expected`` is the status the rules judged. A lapsed reservation is judged available;
        it is matched as a reservation whose hold has passed, so a fresh hold is never taken.
        ``spent``: a stored value's spent amount as the rules read it and as it becomes; the
        row moves only if it is still the one read, so two uses never spend the same value.
        """
        guard = _guard(voucher, expected, now, spent, values)
        stmt = (
            self._update(v.c.id == voucher.id, guard)
            .values(status=new.value, status_changed_at=now, **values)
            .returning(*v.c)
        )
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _voucher(row)

    def transition_shared(
        self, voucher: Voucher, issuer_id: uuid.UUID, expected: VoucherStatus, new: VoucherStatus,
        now: datetime, *, spent: tuple[int, int] | None = None,
    ) -> Voucher | None:  # fmt: skip
        """``transition`` of a marketplace voucher of ``issuer_id`` used at this tenant: the
        same compare-and-set on the one voucher row, so exactly once holds across brands,
        and only while its type is shared with this tenant. The subscriber stays off the
        issuer's row (it is the redeeming brand's)."""
        values: dict[str, Any] = {"reserved_until": None}
        guard = _guard(voucher, expected, now, spent, values)
        stmt = (
            sa.update(v)
            .where(
                v.c.tenant_id == issuer_id,
                v.c.id == voucher.id,
                guard,
                shared_with(v, self.tenant_id),
            )
            .values(status=new.value, status_changed_at=now, **values)
            .returning(*v.c)
        )
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _voucher(row)

    def get_shared(self, voucher_id: int) -> Voucher | None:
        """A marketplace voucher of another tenant, by id, while its type is shared here."""
        stmt = sa.select(v).where(v.c.id == voucher_id, shared_with(v, self.tenant_id))
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _voucher(row)

    # --- sweeping ----------------------------------------------------------------------

    def due(
        self,
        lifecycle_id: uuid.UUID,
        statuses: Sequence[VoucherStatus],
        column: str,
        before: datetime,
        limit: int,
    ) -> list[Voucher]:
        """Vouchers of one lifecycle in ``statuses`` whose ``column`` is at or before ``before``."""
        stmt = (
            self._select()
            .where(
                v.c.lifecycle_id == lifecycle_id,
                v.c.status.in_([s.value for s in statuses]),
                v.c[column] <= before,
            )
            .order_by(v.c.id)
            .limit(limit)
        )
        return [_voucher(row) for row in self.conn.execute(stmt).mappings()]

    def lapsed_holds(self, now: datetime, limit: int) -> list[Voucher]:
        stmt = (
            self._select()
            .where(sa.text(t.RESERVED_ONLY), v.c.reserved_until <= now)
            .order_by(v.c.id)
            .limit(limit)
        )
        return [_voucher(row) for row in self.conn.execute(stmt).mappings()]

    def move_many(
        self,
        ids: Sequence[int],
        expected: VoucherStatus,
        new: VoucherStatus,
        now: datetime,
        **values: Any,
    ) -> set[int]:
        """Compare-and-set for many: the ids actually moved from ``expected`` to ``new``."""
        if not ids:
            return set()
        stmt = (
            self._update(v.c.id.in_(list(ids)), v.c.status == expected.value)
            .values(status=new.value, status_changed_at=now, **values)
            .returning(v.c.id)
        )
        return {int(i) for i in self.conn.execute(stmt).scalars()}

    def delete_many(self, ids: Sequence[int], statuses: Sequence[VoucherStatus]) -> set[int]:
        """Delete finished vouchers; a voucher that replaced one of them forgets the link
        (the reissue EDR keeps both serials)."""
        if not ids:
            return set()
        self.conn.execute(self._update(v.c.replaces_id.in_(list(ids))).values(replaces_id=None))
        stmt = self._delete(
            v.c.id.in_(list(ids)), v.c.status.in_([s.value for s in statuses])
        ).returning(v.c.id)
        return {int(i) for i in self.conn.execute(stmt).scalars()}
