"""Tenants and keys. Tenants are the one table above tenancy; keys are looked up by hash
before a tenant is known, which is why ``find_key_by_hash`` lives outside ``TenantScoped``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.base import TenantScoped
from tessera.domain.paging import Page
from tessera.domain.roles import Role
from tessera.domain.tenants import ApiKey, Tenant


def _tenant(row: sa.RowMapping) -> Tenant:
    return Tenant(
        id=row["id"],
        name=row["name"],
        created_at=row["created_at"],
        host_id=row["host_id"],
        suspended_at=row["suspended_at"],
    )


def _key(row: sa.RowMapping) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        role=Role(row["role"]),
        display_prefix=row["display_prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        list_ids=None
        if row["list_ids"] is None
        else frozenset(uuid.UUID(i) for i in row["list_ids"]),
        tenant_suspended=row.get("tenant_suspended_at") is not None,
        receives_shares=bool(row.get("receives_shares")),
    )


def _with_tenant_state(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """A key with its tenant's suspension and whether marketplace types are shared with its
    tenant, in the same statement as the key itself."""
    shares = t.voucher_type_shares.c
    receives = sa.exists().where(shares.brand_id == t.api_keys.c.tenant_id)
    return (
        sa.select(
            t.api_keys,
            t.tenants.c.suspended_at.label("tenant_suspended_at"),
            receives.label("receives_shares"),
        )
        .join_from(t.api_keys, t.tenants, t.tenants.c.id == t.api_keys.c.tenant_id)
        .where(*where)
    )


class TenantDirectory:
    """Operations across tenants: used only by the CLI and by authentication."""

    def __init__(self, connection: sa.Connection) -> None:
        self.conn = connection

    def add(self, tenant: Tenant) -> None:
        self.conn.execute(
            sa.insert(t.tenants).values(
                id=tenant.id, name=tenant.name, created_at=tenant.created_at
            )
        )

    def by_name(self, name: str) -> Tenant | None:
        row = (
            self.conn.execute(sa.select(t.tenants).where(t.tenants.c.name == name))
            .mappings()
            .first()
        )
        return None if row is None else _tenant(row)

    def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        row = (
            self.conn.execute(sa.select(t.tenants).where(t.tenants.c.id == tenant_id))
            .mappings()
            .first()
        )
        return None if row is None else _tenant(row)

    def all(self) -> list[Tenant]:
        rows = self.conn.execute(sa.select(t.tenants).order_by(t.tenants.c.id)).mappings().all()
        return [_tenant(row) for row in rows]

    def find_key_by_hash(self, key_hash: str) -> ApiKey | None:
        stmt = _with_tenant_state(t.api_keys.c.key_hash == key_hash)
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else _key(row)

    def key_of(self, key_id: uuid.UUID) -> ApiKey | None:
        row = self.conn.execute(_with_tenant_state(t.api_keys.c.id == key_id)).mappings().first()
        return None if row is None else _key(row)


class ApiKeyRepository(TenantScoped):
    table = t.api_keys

    def add(self, key: ApiKey, key_hash: str) -> None:
        self.conn.execute(
            self._insert(
                id=key.id,
                name=key.name,
                role=key.role.value,
                key_hash=key_hash,
                display_prefix=key.display_prefix,
                created_at=key.created_at,
                revoked_at=None,
                list_ids=None if key.list_ids is None else sorted(str(i) for i in key.list_ids),
            )
        )

    def get(self, key_id: uuid.UUID) -> ApiKey | None:
        row = self.conn.execute(self._select().where(self.table.c.id == key_id)).mappings().first()
        return None if row is None else _key(row)

    def list(self, cursor: str | None, limit: int) -> Page[ApiKey]:
        return self._page(self._select(), self.table.c.id, cursor, limit, _key)

    def active_admins(self) -> set[uuid.UUID]:
        """The tenant's active admin keys, locked until the transaction ends (PostgreSQL;
        SQLite's writers already go one at a time): of two admins revoking each other's key
        at once, the second sees the first one's revocation."""
        c = self.table.c
        stmt = self._select(c.id).where(c.role == Role.ADMIN.value, c.revoked_at.is_(None))
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return set(self.conn.execute(stmt).scalars())

    def revoke(self, key_id: uuid.UUID, at: datetime) -> bool:
        result = self.conn.execute(
            self._update(self.table.c.id == key_id, self.table.c.revoked_at.is_(None)).values(
                revoked_at=at
            )
        )
        return result.rowcount == 1


class ConsoleSessions:
    """Console sign-ins, looked up by the token's hash before a tenant is known (like keys)."""

    table = t.console_sessions

    def __init__(self, connection: sa.Connection) -> None:
        self.conn = connection

    def add(self, token_hash: str, key: ApiKey, created_at: datetime, expires_at: datetime) -> None:
        self.conn.execute(
            sa.insert(self.table).values(
                token_hash=token_hash,
                tenant_id=key.tenant_id,
                key_id=key.id,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    def find(self, token_hash: str, now: datetime) -> tuple[ApiKey, datetime] | None:
        """The session's key and expiry, if the session has not expired and the key is not
        revoked: both are settled by this one statement."""
        s, k, tn = self.table.c, t.api_keys.c, t.tenants.c
        stmt = (
            sa.select(t.api_keys, s.expires_at.label("session_expires_at"))
            .join_from(self.table, t.api_keys, s.key_id == k.id)
            .join(t.tenants, tn.id == k.tenant_id)
            .where(
                s.token_hash == token_hash,
                s.expires_at > now,
                k.revoked_at.is_(None),
                tn.suspended_at.is_(None),  # a suspended brand's sessions end with it
            )
        )
        row = self.conn.execute(stmt).mappings().first()
        return None if row is None else (_key(row), row["session_expires_at"])

    def end(self, token_hash: str) -> bool:
        stmt = sa.delete(self.table).where(self.table.c.token_hash == token_hash)
        return self.conn.execute(stmt).rowcount == 1

    def end_expired(self, now: datetime) -> int:
        return self.conn.execute(
            sa.delete(self.table).where(self.table.c.expires_at <= now)
        ).rowcount
