"""API keys: admins create, list and revoke them. A key's plain value is shown once."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from tessera.domain.roles import Role
from tessera.domain.tenants import ApiKey
from tessera.entrypoints.http.deps import KeyAdmin
from tessera.entrypoints.http.pagination import Cursor, Limit, PageOut
from tessera.services import tenants

router = APIRouter(prefix="/v1/keys", tags=["keys"])


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    list_ids: list[uuid.UUID] | None = Field(
        None, max_length=100, description="A partner key's voucher lists (partner keys only)"
    )


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    display_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    list_ids: list[uuid.UUID] | None = None

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls(
            id=key.id,
            name=key.name,
            role=key.role,
            display_prefix=key.display_prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
            list_ids=None if key.list_ids is None else sorted(key.list_ids),
        )


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself. It is shown only in this answer.")


@router.post("", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyIn, uow: KeyAdmin) -> NewKeyOut:
    key, plain = tenants.create_key(uow, body.name, body.role, body.list_ids)
    return NewKeyOut(**KeyOut.of(key).model_dump(), key=plain)


@router.get("")
def list_keys(uow: KeyAdmin, cursor: Cursor = None, limit: Limit = 100) -> PageOut[KeyOut]:
    page = tenants.list_keys(uow, cursor, limit)
    return PageOut(items=[KeyOut.of(k) for k in page.items], next_cursor=page.next_cursor)


@router.delete("/{key_id}")
def revoke_key(key_id: uuid.UUID, uow: KeyAdmin) -> KeyOut:
    """Revoke a key at once; the tenant's last admin key cannot be (409 last_admin_key)."""
    return KeyOut.of(tenants.revoke_key(uow, key_id))
