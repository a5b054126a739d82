"""Typed dependencies: the container, the caller (from the bearer key) and its unit of work."""
# No "from __future__ import annotations" here: FastAPI must evaluate the closures'
# Depends(...) annotations where they are defined.

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.bootstrap import Container
from tessera.domain.errors import Forbidden
from tessera.domain.roles import Permission, allows
from tessera.domain.tenants import Caller
from tessera.services.tenants import authenticate

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tsk_...`")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def get_caller(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    return authenticate(container.directory(), credentials.credentials if credentials else None)


def require(permission: Permission) -> Callable[..., Caller]:
    """A dependency that lets the call through only for roles granted ``permission``."""

    def _check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if not allows(caller.role, permission):
            raise Forbidden(
                f"the role '{caller.role}' may not {permission.value.replace('_', ' ')}",
                code="forbidden",
                role=caller.role.value,
                permission=permission.value,
            )
        return caller

    return _check


def _uow(permission: Permission) -> Callable[..., UnitOfWork]:
    def _make(
        container: ContainerDep, caller: Annotated[Caller, Depends(require(permission))]
    ) -> UnitOfWork:
        return container.uow(caller.tenant_id, caller.key_id)

    return _make


Reader = Annotated[UnitOfWork, Depends(_uow(Permission.READ))]
KeyAdmin = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_KEYS))]
CatalogManager = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_CATALOG))]
SubscriberManager = Annotated[UnitOfWork, Depends(_uow(Permission.MANAGE_SUBSCRIBERS))]
PointOfSale = Annotated[UnitOfWork, Depends(_uow(Permission.POINT_OF_SALE))]
VoucherOperator = Annotated[UnitOfWork, Depends(_uow(Permission.OPERATE_VOUCHERS))]
