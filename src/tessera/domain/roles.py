"""Key roles and what each may do: the one table the API consults for authorization."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    POS = "pos"
    AUDITOR = "auditor"


class Permission(StrEnum):
    READ = "read"  # every role, the auditor included
    MANAGE_KEYS = "manage_keys"
    MANAGE_CATALOG = "manage_catalog"  # lifecycles, voucher types, batches, lists, campaigns
    MANAGE_SUBSCRIBERS = "manage_subscribers"
    OPERATE_VOUCHERS = "operate_vouchers"  # by serial: reissue, cancel, close, reverse
    POINT_OF_SALE = "point_of_sale"  # by code: validate, reserve, confirm, redeem
    SEND_EVENTS = "send_events"  # usage and account events for the rewards engine


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(Permission) - {Permission.MANAGE_KEYS},
    Role.POS: frozenset({Permission.READ, Permission.POINT_OF_SALE}),
    Role.AUDITOR: frozenset({Permission.READ}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]
