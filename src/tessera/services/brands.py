"""A host operator's brands: create one (with its first admin key), suspend or resume it,
list them and count their activity. The host never reads a brand's records: the repository
(``GroupScoped``) reaches only the brands' tenant rows and counts."""

from __future__ import annotations

import uuid

from tessera.adapters.db.repositories.brands import BrandCounts
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, NotFound
from tessera.domain.ids import new_id
from tessera.domain.paging import Page
from tessera.domain.roles import Role
from tessera.domain.tenants import (
    ApiKey,
    Tenant,
    display_prefix,
    hash_key,
    may_host_brands,
    new_plain_key,
    validate_name,
)

FIRST_KEY_NAME = "first admin key"


def create_brand(uow: UnitOfWork, name: str) -> tuple[Tenant, ApiKey, str]:
    """A brand of the caller's tenant and the brand's first admin key; the plain key exists
    only in the return value (the store keeps its hash)."""
    name = validate_name(name)
    plain = new_plain_key()
    with uow:
        now = uow.clock()
        may_host_brands(uow.brands.host())
        brand = Tenant(id=new_id(), name=name, created_at=now, host_id=uow.tenant_id)
        if not uow.brands.add(brand):
            raise Conflict(f"a tenant named '{name}' already exists", code="tenant_exists")
        key = ApiKey(
            id=new_id(),
            tenant_id=brand.id,
            name=FIRST_KEY_NAME,
            role=Role.ADMIN,
            display_prefix=display_prefix(plain),
            created_at=now,
        )
        created = EdrDraft(
            "key.create",
            "api_key",
            str(key.id),
            details={"role": Role.ADMIN.value, "name": key.name, "minted_by": "host"},
        )
        written = uow.brands.add_key(brand.id, key, hash_key(plain), created)
        assert written, "the brand was made in this transaction"
        uow.edrs.append(
            EdrDraft("brand.create", "tenant", str(brand.id), details={"name": name}), now
        )
        uow.commit()
    return brand, key, plain


def list_brands(uow: UnitOfWork, cursor: str | None, limit: int) -> Page[Tenant]:
    with uow:
        return uow.brands.page(cursor, limit)


def get_brand(uow: UnitOfWork, brand_id: uuid.UUID) -> Tenant:
    with uow:
        brand = uow.brands.get(brand_id)
    if brand is None:
        raise NotFound("no such brand", code="brand_not_found")
    return brand


def suspend_brand(uow: UnitOfWork, brand_id: uuid.UUID) -> Tenant:
    """The brand's keys (and console sessions) are refused from now on; its records stay."""
    return _set_suspended(uow, brand_id, suspend=True)


def resume_brand(uow: UnitOfWork, brand_id: uuid.UUID) -> Tenant:
    return _set_suspended(uow, brand_id, suspend=False)


def _set_suspended(uow: UnitOfWork, brand_id: uuid.UUID, *, suspend: bool) -> Tenant:
    with uow:
        now = uow.clock()
        if not uow.brands.set_suspended(brand_id, now if suspend else None):
            if uow.brands.get(brand_id) is None:
                raise NotFound("no such brand", code="brand_not_found")
            state = "suspended" if suspend else "active"
            raise Conflict(f"the brand is already {state}", code=f"brand_already_{state}")
        operation = "brand.suspend" if suspend else "brand.resume"
        uow.edrs.append(EdrDraft(operation, "tenant", str(brand_id)), now)
        brand = uow.brands.get(brand_id)
        uow.commit()
    assert brand is not None
    return brand


def group_report(uow: UnitOfWork) -> list[BrandCounts]:
    """Each brand's counts (vouchers, used, redemptions at its points of sale)."""
    with uow:
        return uow.brands.counts()
