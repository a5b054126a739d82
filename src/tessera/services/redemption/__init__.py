"""Point-of-sale and operator operations on one voucher: validate, reserve, confirm, release,
redeem, reverse, reissue, cancel, close.

A redemption, top to bottom: ``entrypoints/http/vouchers.py`` (or, for the point of sale's
hot call, ``point_of_sale.py``) → ``operations.redeem`` (or ``quick.use_quickly``) →
``decision.decide_use``, the one rule of a use → a ``ledger.RedemptionLedger`` that writes the
decision: the unit of work's (both stores) or the batched PostgreSQL statement's
(``adapters/db/repositories/quick_use.py``).
"""

from tessera.services.redemption.ledger import Decline
from tessera.services.redemption.operations import (
    OPERATIONS,
    Credit,
    Outcome,
    Request,
    Target,
    Validation,
    cancel,
    close,
    confirm,
    describe,
    redeem,
    reissue,
    release,
    reserve,
    reverse,
    validate,
)
from tessera.services.redemption.quick import QUICK_OPERATIONS, use_quickly

__all__ = [
    "OPERATIONS",
    "QUICK_OPERATIONS",
    "Credit",
    "Decline",
    "Outcome",
    "Request",
    "Target",
    "Validation",
    "cancel",
    "close",
    "confirm",
    "describe",
    "redeem",
    "reissue",
    "release",
    "reserve",
    "reverse",
    "use_quickly",
    "validate",
]  # fmt: skip
