"""Typed dependencies: the container, the caller (from the bearer key) and its unit of work."""
# No "from __future__ import annotations" here: FastAPI must evaluate the closures'
# Depends(...) annotations where they are defined.

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.bootstrap import Container
from tessera.domain.errors import Forbidden, NotFound
from tessera.domain.roles import READS, Permission, allows, reaches_list
from tessera.domain.tenants import Caller, hash_key
from tessera.services.tenants import authenticate

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tsk_...`")


# The dependencies are ``async def`` although most do no I/O: FastAPI runs a plain ``def``
# dependency on the thread pool, one hand-off per dependency per request, each waiting for
# the GIL behind busy threads. Only the key lookup touches the database, on the pool.


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


# Resolved keys, per process, for ``key_cache_seconds`` (off by default): a key lookup is a
# database round trip on every request otherwise. Only successes are cached, so a new key
# works at once; a revoked key may keep working for up to the TTL. Keyed by the key's hash.
_key_cache: dict[str, tuple[float, Caller]] = {}
_KEY_CACHE_MAX = 10_000


async def get_caller(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    return await caller_of(container, credentials.credentials if credentials else None)


async def caller_of(container: Container, plain: str | None) -> Caller:
    """The caller of a bearer key; Unauthenticated when it is missing, unknown or revoked."""
    ttl = container.settings.key_cache_seconds
    if plain is None or ttl <= 0:
        return await run_in_threadpool(authenticate, container.directory(read_only=True), plain)
    now = time.monotonic()
    digest = hash_key(plain)
    hit = _key_cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    caller = await run_in_threadpool(authenticate, container.directory(read_only=True), plain)
    if len(_key_cache) >= _KEY_CACHE_MAX:
        _key_cache.clear()
    _key_cache[digest] = (now + ttl, caller)
    return caller


def require(permission: Permission) -> Callable[..., Awaitable[Caller]]:
    """A dependency that lets the call through only for roles granted ``permission``."""

    async def _check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        return allowed(caller, permission)

    return _check


def allowed(caller: Caller, permission: Permission) -> Caller:
    if not allows(caller.role, permission):
        raise Forbidden(
            f"the role '{caller.role}' may not {permission.value.replace('_', ' ')}",
            code="forbidden",
            role=caller.role.value,
            permission=permission.value,
        )
    return caller


def _uow(permission: Permission) -> Callable[..., Awaitable[UnitOfWork]]:
    # One dependency does the caller, the permission and the unit of work: each level of
    # dependencies costs FastAPI tens of microseconds on every request.
    async def _make(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> UnitOfWork:
        container: Container = request.app.state.container
        plain = credentials.credentials if credentials else None
        caller = allowed(await caller_of(container, plain), permission)
        request.state.role = caller.role  # what a refusal may offer it (problems.py)
        uow = container.uow(caller.tenant_id, caller.key_id, read_only=permission in READS)
        uow.bound_lists = caller.list_ids
        return uow

    return _make


def _list_uow(permission: Permission) -> Callable[..., Awaitable[UnitOfWork]]:
    """As ``_uow``, for a route on one voucher list (``{list_id}``): a key bound to lists
    (a partner's) finds no other list, exactly as if it did not exist."""
    make = _uow(permission)

    async def _make(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> UnitOfWork:
        uow = await make(request, credentials)
        try:
            list_id = uuid.UUID(str(request.path_params.get("list_id")))
        except ValueError:
            return uow  # the route's own validation names the field
        if not reaches_list(request.state.role, uow.bound_lists, list_id):
            raise NotFound("no such voucher list", code="list_not_found")
        return uow

    return _make


Reader = Annotated[UnitOfWork, Depends(_uow(Permission.READ))]
KeyAdmin = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_KEYS))]
CatalogManager = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_CATALOG))]
SubscriberManager = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_SUBSCRIBERS))]
VoucherOperator = Annotated[UnitOfWork, Depends(_uow(Permission.OPERATE_VOUCHERS))]
PointOfSale = Annotated[UnitOfWork, Depends(_uow(Permission.POINT_OF_SALE))]
OrderSystem = Annotated[UnitOfWork, Depends(_uow(Permission.FULFIL))]
WalletReader = Annotated[UnitOfWork, Depends(_uow(Permission.READ_WALLET))]
BrandManager = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_BRANDS))]
GroupReader = Annotated[UnitOfWork, Depends(_uow(Permission.READ_GROUP_REPORTS))]
ListReportReader = Annotated[UnitOfWork, Depends(_uow(Permission.READ_LIST_REPORTS))]
PeriodCloser = Annotated[UnitOfWork, Depends(_uow(Permission.CLOSE_PERIODS))]
# One list's reports and partner redemptions: a partner key reaches only its own lists.
ListReader = Annotated[UnitOfWork, Depends(_list_uow(Permission.READ_LIST_REPORTS))]
ListRedemptionReporter = Annotated[
    UnitOfWork, Depends(_list_uow(Permission.REPORT_LIST_REDEMPTIONS))
]
