"""Marketplace voucher types: the owner shares a type with chosen tenants of its group (the
host and its brands), whose points of sale may then validate and redeem the type's codes
(``redemption.operations``, ``marketplace=True``)."""

from __future__ import annotations

import uuid

from tessera.adapters.db.repositories.shares import Share
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Conflict, NotFound
from tessera.services.catalog import _type_or_404


def _brand_not_found() -> NotFound:
    # The same answer for a tenant outside the group as for an id that does not exist.
    return NotFound("no such brand in this tenant's group", code="brand_not_found")


def share_type(uow: UnitOfWork, type_id: uuid.UUID, brand_id: uuid.UUID) -> Share:
    """Idempotent: sharing a type already shared with the brand answers the share."""
    with uow:
        now = uow.clock()
        voucher_type = _type_or_404(uow, type_id)
        if voucher_type.spec.fulfilment_offer is not None:
            raise Conflict(
                "a type with a fulfilment offer is delivered by its owner's order system: "
                "it cannot be shared",
                code="shared_type_has_offer",
            )
        if not uow.shares.in_group(brand_id):
            raise _brand_not_found()
        if uow.shares.add(type_id, brand_id, now):
            uow.edrs.append(
                EdrDraft("voucher_type.share", "voucher_type", str(type_id),
                         details={"brand_id": str(brand_id)}),
                now,
            )  # fmt: skip
        (share,) = [s for s in uow.shares.of_type(type_id) if s.brand_id == brand_id]
        uow.commit()
    return share


def unshare_type(uow: UnitOfWork, type_id: uuid.UUID, brand_id: uuid.UUID) -> None:
    """From now on the brand's points of sale no longer find the type's codes."""
    with uow:
        _type_or_404(uow, type_id)
        if not uow.shares.remove(type_id, brand_id):
            raise NotFound("the type is not shared with that brand", code="share_not_found")
        uow.edrs.append(
            EdrDraft("voucher_type.unshare", "voucher_type", str(type_id),
                     details={"brand_id": str(brand_id)}),
            uow.clock(),
        )  # fmt: skip
        uow.commit()


def shares_of(uow: UnitOfWork, type_id: uuid.UUID) -> list[Share]:
    with uow:
        _type_or_404(uow, type_id)
        return uow.shares.of_type(type_id)
