"""Issuing single vouchers: by an operator (``POST /v1/vouchers``), by reissue, by rewards.

Batches (many vouchers, print files) are another service; this one makes one voucher with
the default code format and returns its code, the only time the code exists in plain.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.code_hash import code_hash
from tessera.domain.codes import CodeFormat, generate_codes, last4
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Invalid, NotFound
from tessera.domain.ids import new_id
from tessera.domain.revenue import voucher_revenue
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher, expiry_of
from tessera.domain.wallet import Subscriber, validate_external_id

DEFAULT_FORMAT = CodeFormat()  # 12 digits and a Damm check digit


@dataclass(frozen=True, slots=True)
class Issued:
    """A voucher just issued, its code (this once) and when it expires, as a read shows it."""

    voucher: Voucher
    code: str
    expires_at: datetime | None


def issue_voucher(
    uow: UnitOfWork,
    voucher_type_id: uuid.UUID,
    secret: bytes,
    *,
    status: VoucherStatus = VoucherStatus.AVAILABLE,
    replaces: Voucher | None = None,
    subscriber: Subscriber | None = None,
) -> tuple[Voucher, str]:
    """Inside an open unit of work: one voucher and its plain code.

    A new voucher gets its type's current lifecycle. A replacement (reissue) keeps the
    lifecycle, issue and activation times of the voucher it replaces, so reissuing never
    extends validity, is held as long as the old one was, and stays with the same subscriber
    (the one it was given to, or the one holding the reservation, whom a confirm credits);
    a stored value's replacement holds what was left of it, not its whole value again.
    """
    if status not in (VoucherStatus.AVAILABLE, VoucherStatus.RESERVED, VoucherStatus.PENDING):
        raise Invalid("status", "a new voucher is pending, available or reserved")
    voucher_type = uow.voucher_types.get(voucher_type_id)
    if voucher_type is None:
        raise NotFound("no such voucher type", code="voucher_type_not_found")
    now = uow.clock()
    (code,) = generate_codes(DEFAULT_FORMAT, 1)
    serial = uow.serials.reserve(1)
    if replaces is not None:
        lifecycle_id = replaces.lifecycle_id
        issued_at, activated_at = replaces.issued_at, replaces.activated_at
        reserved_until = replaces.reserved_until if status is VoucherStatus.RESERVED else None
        subscriber_id = replaces.subscriber_id
    else:
        lifecycle_id = voucher_type.spec.lifecycle_id
        issued_at = now
        activated_at = None if status is VoucherStatus.PENDING else now
        reserved_until = None
        subscriber_id = subscriber.id if subscriber else None
    voucher = uow.vouchers.add(
        serial=serial,
        code_hash=code_hash(secret, code),
        code_last4=last4(code),
        voucher_type_id=voucher_type_id,
        lifecycle_id=lifecycle_id,
        status=status,
        issued_at=issued_at,
        activated_at=activated_at,
        reserved_until=reserved_until,
        now=now,
        subscriber_id=subscriber_id,
        replaces_id=replaces.id if replaces else None,
        value_spent_minor=(replaces.value_spent_minor or None) if replaces else None,
    )
    uow.edrs.append(
        EdrDraft(
            "voucher.issue",
            "voucher",
            str(serial),
            status_after=status.value,
            amount_minor=voucher_type.spec.cost_minor,
            currency=voucher_type.spec.currency,
            details={
                "voucher_type": voucher_type.spec.name,
                "voucher_type_id": str(voucher_type_id),
                "lifecycle_id": str(lifecycle_id),
                "code_last4": voucher.code_last4,
                "subscriber": subscriber.external_id if subscriber else None,
                "replaces_serial": replaces.serial if replaces else None,
            },
        ),
        now,
    )
    cause = "reissue" if replaces is not None else "issue"
    uow.edrs.append_many(voucher_revenue(voucher, voucher_type.spec, None, status, now, cause), now)
    return voucher, code


def issue_one(
    uow: UnitOfWork,
    voucher_type_id: uuid.UUID,
    secret: bytes,
    *,
    status: VoucherStatus = VoucherStatus.AVAILABLE,
    subscriber: str | None = None,
) -> Issued:
    """An operator issues one voucher (optionally to a subscriber); its code is shown once."""
    with uow:
        holder = None
        if subscriber is not None:
            external_id = validate_external_id(subscriber)
            holder = uow.subscribers.by_external_id(external_id)
            if holder is None:
                holder, _ = uow.subscribers.upsert(external_id, None, None, uow.clock(), new_id())
        voucher, code = issue_voucher(
            uow, voucher_type_id, secret, status=status, subscriber=holder
        )
        lifecycle = uow.lifecycles.get(voucher.lifecycle_id)
        assert lifecycle is not None  # a voucher type's lifecycle is never deleted
        uow.commit()
    return Issued(voucher, code, expiry_of(voucher, lifecycle.rules))
