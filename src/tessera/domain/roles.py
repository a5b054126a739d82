"""Key roles and what each may do: the one table the API consults for authorization.

The README's role table says this table in words; a test compares the two."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import StrEnum

from tessera.domain.statuses import POINT_OF_SALE_OPERATIONS, VOUCHER_OPERATIONS, Operation


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    POS = "pos"
    PARTNER = "partner"  # a brand partner, bound to the voucher lists its key names
    AUDITOR = "auditor"
    ORDER_SYSTEM = "order_system"  # the tenant's order system: settles fulfilment requests
    FINANCE = "finance"  # reads the records and reports, closes settlement periods


class Permission(StrEnum):
    READ = "read"  # the tenant's records: catalog, subscribers, vouchers, EDRs, reports
    READ_WALLET = "read_wallet"  # one subscriber's wallet, asked by the subscriber's id
    READ_LIST_REPORTS = "read_list_reports"  # a list's utilization; the partner settlement
    REPORT_LIST_REDEMPTIONS = "report_list_redemptions"  # a partner's redemptions of its codes
    MANAGE_KEYS = "manage_keys"
    MANAGE_CATALOG = "manage_catalog"  # lifecycles, voucher types, batches, lists, campaigns
    MANAGE_SUBSCRIBERS = "manage_subscribers"
    OPERATE_VOUCHERS = "operate_vouchers"  # by serial: reissue, cancel, close, reverse
    POINT_OF_SALE = "point_of_sale"  # by code: validate, reserve, confirm, release, redeem
    SEND_EVENTS = "send_events"  # usage and account events for the rewards engine
    FULFIL = "fulfil"  # read, complete and fail fulfilment requests
    MANAGE_BRANDS = "manage_brands"  # a host's brands: create (with their first admin key), suspend
    READ_GROUP_REPORTS = (
        "read_group_reports"  # a host's brands and their counts, never their records
    )
    CLOSE_PERIODS = "close_periods"  # close a partner settlement period: its statement is final


# The permissions whose routes write nothing (GETs): their transactions read beside writers.
READS: frozenset[Permission] = frozenset(
    {
        Permission.READ,
        Permission.READ_WALLET,
        Permission.READ_LIST_REPORTS,
        Permission.READ_GROUP_REPORTS,
    }
)

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # Making a brand mints its first admin key, so it is a key admin's act too; closing a
    # settlement period is a finance decision, not an operator's.
    Role.OPERATOR: frozenset(Permission)
    - {Permission.MANAGE_KEYS, Permission.MANAGE_BRANDS, Permission.CLOSE_PERIODS},
    # A till: its operations by code and their answers, and the wallet of the customer in
    # front of it (asked by number); never a list of subscribers, vouchers or EDRs.
    Role.POS: frozenset({Permission.POINT_OF_SALE, Permission.READ_WALLET}),
    # A brand partner: only on the lists its key is bound to (reaches_list).
    Role.PARTNER: frozenset({Permission.REPORT_LIST_REDEMPTIONS, Permission.READ_LIST_REPORTS}),
    Role.AUDITOR: frozenset(
        {
            Permission.READ,
            Permission.READ_WALLET,
            Permission.READ_LIST_REPORTS,
            Permission.READ_GROUP_REPORTS,
        }
    ),
    Role.ORDER_SYSTEM: frozenset({Permission.FULFIL}),
    Role.FINANCE: frozenset(
        {
            Permission.READ,
            Permission.READ_LIST_REPORTS,
            Permission.READ_GROUP_REPORTS,
            Permission.CLOSE_PERIODS,
        }
    ),
}

# Roles whose keys name the voucher lists they may act on; every other key reaches all.
BOUND_TO_LISTS: frozenset[Role] = frozenset({Role.PARTNER})


def allows(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]


def reaches_list(role: Role, bound_lists: frozenset[uuid.UUID] | None, list_id: uuid.UUID) -> bool:
    """May a key of ``role``, bound to ``bound_lists``, act on the list ``list_id``?"""
    if role not in BOUND_TO_LISTS:
        return True
    return bound_lists is not None and list_id in bound_lists


def may_operate(role: Role, operation: Operation) -> bool:
    """Whether the role has an endpoint for this operation on one voucher: a till the point
    of sale's by code, an operator every one, by code or by serial."""
    if allows(role, Permission.OPERATE_VOUCHERS):
        return operation in VOUCHER_OPERATIONS
    return allows(role, Permission.POINT_OF_SALE) and operation in POINT_OF_SALE_OPERATIONS


def operations_for(role: Role, operations: Iterable[Operation]) -> list[Operation]:
    """Of ``operations``, those the role may ask for (what a refusal offers it)."""
    return [op for op in operations if may_operate(role, op)]
