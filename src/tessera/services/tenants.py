"""Tenants, API keys and authentication."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, Invalid, NotFound, Unauthenticated
from tessera.domain.ids import new_id
from tessera.domain.paging import Page
from tessera.domain.roles import BOUND_TO_LISTS, Role
from tessera.domain.tenants import (
    ApiKey,
    Caller,
    Tenant,
    display_prefix,
    hash_key,
    new_plain_key,
    validate_name,
)


def create_tenant(directory: DirectoryUnitOfWork, name: str) -> tuple[Tenant, str]:
    """A new tenant and its first admin key; the plain key exists only in the return value."""
    name = validate_name(name)
    with directory:
        if directory.tenants.by_name(name) is not None:
            raise Conflict(f"a tenant named '{name}' already exists", code="tenant_exists")
        tenant = Tenant(id=new_id(), name=name, created_at=directory.clock())
        directory.tenants.add(tenant)
        directory.commit()
    _key, plain = create_key(
        UnitOfWork(directory.engine, tenant.id, clock=directory.clock),
        "first admin key",
        Role.ADMIN,
    )
    return tenant, plain


def find_tenant(directory: DirectoryUnitOfWork, name: str) -> Tenant:
    """By name, or by id when ``name`` is one."""
    with directory:
        tenant = directory.tenants.by_name(name)
        if tenant is None and _is_uuid(name):
            tenant = directory.tenants.get(uuid.UUID(name))
    if tenant is None:
        raise NotFound(f"no tenant named '{name}'", code="tenant_not_found")
    return tenant


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def list_tenants(directory: DirectoryUnitOfWork) -> list[Tenant]:
    with directory:
        return directory.tenants.all()


def authenticate(directory: DirectoryUnitOfWork, plain_key: str | None) -> Caller:
    if not plain_key:
        raise Unauthenticated(
            "send an API key as 'Authorization: Bearer <key>'", code="key_missing"
        )
    with directory:
        key = directory.tenants.find_key_by_hash(hash_key(plain_key))
    if key is None or not key.active:
        raise Unauthenticated("the API key is unknown or revoked", code="key_invalid")
    if key.tenant_suspended:
        raise Unauthenticated("the key's brand is suspended by its host", code="tenant_suspended")
    return Caller(
        tenant_id=key.tenant_id,
        key_id=key.id,
        role=key.role,
        list_ids=key.list_ids,
        receives_shares=key.receives_shares,
    )


def _bound_lists(
    uow: UnitOfWork, role: Role, list_ids: Sequence[uuid.UUID] | None
) -> frozenset[uuid.UUID] | None:
    """The lists a new key is bound to: a partner key names at least one of the tenant's
    lists; no other key names any."""
    if role not in BOUND_TO_LISTS:
        if list_ids:
            raise Invalid("list_ids", f"only a {Role.PARTNER.value} key is bound to lists")
        return None
    if not list_ids:
        raise Invalid("list_ids", "a partner key names the voucher lists it reports on")
    for list_id in list_ids:
        if uow.lists.get(list_id) is None:
            raise Invalid("list_ids", f"no voucher list {list_id}")
    return frozenset(list_ids)


def create_key(
    uow: UnitOfWork, name: str, role: Role, list_ids: Sequence[uuid.UUID] | None = None
) -> tuple[ApiKey, str]:
    plain = new_plain_key()
    with uow:
        key = ApiKey(
            id=new_id(),
            tenant_id=uow.tenant_id,
            name=validate_name(name),
            role=role,
            display_prefix=display_prefix(plain),
            created_at=uow.clock(),
            list_ids=_bound_lists(uow, role, list_ids),
        )
        uow.keys.add(key, hash_key(plain))
        uow.edrs.append(
            EdrDraft(
                "key.create",
                "api_key",
                str(key.id),
                details={"role": role.value, "name": key.name}
                | ({"list_ids": sorted(map(str, key.list_ids))} if key.list_ids else {}),
            ),
            key.created_at,
        )
        uow.commit()
    return key, plain


def list_keys(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[ApiKey]:
    with uow:
        return uow.keys.list(cursor, limit)


def revoke_key(uow: UnitOfWork, key_id: uuid.UUID) -> ApiKey:
    with uow:
        now = uow.clock()
        target = uow.keys.get(key_id)
        last_admin = target is not None and target.active and target.role is Role.ADMIN
        if last_admin and uow.keys.active_admins() == {key_id}:
            raise Conflict(
                "this is the tenant's last admin key: make another admin key first",
                code="last_admin_key",
            )
        if not uow.keys.revoke(key_id, now):
            if uow.keys.get(key_id) is None:
                raise NotFound("no such API key", code="key_not_found")
            raise Conflict("the API key is already revoked", code="key_revoked")
        uow.edrs.append(EdrDraft("key.revoke", "api_key", str(key_id)), now)
        key = uow.keys.get(key_id)
        uow.commit()
    assert key is not None
    return key
