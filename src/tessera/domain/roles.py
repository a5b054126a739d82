"""Key roles and what each may do: the one table the API consults for authorization."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from tessera.domain.statuses import POINT_OF_SALE_OPERATIONS, VOUCHER_OPERATIONS, Operation


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    POS = "pos"
    AUDITOR = "auditor"
    ORDER_SYSTEM = "order_system"  # the tenant's order system: settles fulfilment requests


class Permission(StrEnum):
    READ = "read"  # every role, the auditor included
    MANAGE_KEYS = "manage_keys"
    MANAGE_CATALOG = "manage_catalog"  # lifecycles, voucher types, batches, lists, campaigns
    MANAGE_SUBSCRIBERS = "manage_subscribers"
    OPERATE_VOUCHERS = "operate_vouchers"  # by serial: reissue, cancel, close, reverse
    POINT_OF_SALE = "point_of_sale"  # by code: validate, reserve, confirm, redeem
    SEND_EVENTS = "send_events"  # usage and account events for the rewards engine
    FULFIL = "fulfil"  # read, complete and fail fulfilment requests


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(Permission) - {Permission.MANAGE_KEYS},
    Role.POS: frozenset({Permission.READ, Permission.POINT_OF_SALE}),
    Role.AUDITOR: frozenset({Permission.READ}),
    Role.ORDER_SYSTEM: frozenset({Permission.FULFIL}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def may_operate(role: Role, operation: Operation) -> bool:
    """Whether the role has an endpoint for this operation on one voucher: a till the point
    of sale's by code, an operator every one, by code or by serial."""
    if allows(role, Permission.OPERATE_VOUCHERS):
        return operation in VOUCHER_OPERATIONS
    return allows(role, Permission.POINT_OF_SALE) and operation in POINT_OF_SALE_OPERATIONS


def operations_for(role: Role, operations: Iterable[Operation]) -> list[Operation]:
    """Of ``operations``, those the role may ask for (what a refusal offers it)."""
    return [op for op in operations if may_operate(role, op)]
