"""Voucher statuses. The transition table (who may go where, by which operation) lives here
too, so that every operation consults the same rules."""

from __future__ import annotations

from enum import StrEnum


class VoucherStatus(StrEnum):
    PENDING = "pending"  # in a batch that is not active: cannot be redeemed
    AVAILABLE = "available"
    RESERVED = "reserved"
    USED = "used"
    CANCELED = "canceled"
    EXPIRED = "expired"
    CLOSED = "closed"
    REISSUED = "reissued"
