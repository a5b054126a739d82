"""Fulfilment: a redemption whose type carries an offer asks the tenant's order system to
activate it, and the request is settled by that system (complete or fail) or by time.

A failed or timed-out activation gives the voucher back (used -> available, its revenue
reversed), so a subscriber never loses a voucher to an order system that did not deliver.
Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from tessera.domain.errors import Conflict, Invalid

MAX_PARAMETERS = 10
MAX_PARAMETER_LENGTH = 100
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class FulfilmentStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


class Action(StrEnum):
    ACTIVATE = "activate"  # a redemption: deliver the offer
    REVOKE = "revoke"  # a reversal: take it back


class FulfilmentUnavailable(Conflict):
    code = "fulfilment_unavailable"

    def __init__(self, voucher_type: str) -> None:
        super().__init__(
            f"vouchers of type '{voucher_type}' are fulfilled by the tenant's order system, and "
            "no active webhook endpoint subscribes to fulfilment.requested: nobody would be "
            "asked to deliver the offer",
            voucher_type=voucher_type,
        )


class FulfilmentSettled(Conflict):
    code = "fulfilment_settled"

    def __init__(self, status: FulfilmentStatus) -> None:
        super().__init__(
            f"the fulfilment request is already {status.value}: only a pending one is settled",
            status=status.value,
        )


def validate_parameter_names(names: tuple[str, ...], field: str) -> None:
    """The parameters a type lets a point of sale send with its offer."""
    if len(names) > MAX_PARAMETERS:
        raise Invalid(field, f"at most {MAX_PARAMETERS} parameters")
    if len(set(names)) != len(names):
        raise Invalid(field, "each parameter is named once")
    for name in names:
        if not _NAME.match(name):
            raise Invalid(field, f"'{name[:40]}' is not a parameter name (a-z, 0-9, _; 40 at most)")


def offer_parameters(allowed: tuple[str, ...], given: Mapping[str, str] | None) -> dict[str, str]:
    """The request's parameters for the offer, within what its type allows: only names the
    type lists, each a non-empty string of at most ``MAX_PARAMETER_LENGTH`` characters."""
    if not given:
        return {}
    for name, value in given.items():
        field = f"offer_parameters.{name[:40]}"
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "none"
            raise Invalid(field, f"not a parameter of this voucher type's offer (allowed: {known})")
        if not isinstance(value, str) or not value.strip():
            raise Invalid(field, "must be a non-empty string")
        if len(value) > MAX_PARAMETER_LENGTH:
            raise Invalid(field, f"must be at most {MAX_PARAMETER_LENGTH} characters")
    return dict(given)
