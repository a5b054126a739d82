"""The point of sale's common case on PostgreSQL: the same decision as every use, written by
the batched ledger (``adapters/db/repositories/quick_use.py``) in one shared statement.

``use_quickly`` answers an ``Outcome`` or a ``Decline`` naming why it left the call to the
transactional path (which decides again and gives every refusal its full answer). Nothing is
written before a decline. The point of sale counts each decline by its reason."""

from __future__ import annotations

from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.code_hash import code_hash
from tessera.domain.errors import DomainError
from tessera.domain.ids import new_id
from tessera.domain.statuses import Operation
from tessera.domain.vouchers import bar_scopes, check_activity_time
from tessera.domain.wallet import validate_external_id
from tessera.services.notifications import Subscriptions
from tessera.services.redemption.decision import decide_use
from tessera.services.redemption.ledger import BatchedLedger, BatchedStore, Decline
from tessera.services.redemption.operations import Outcome, Request, known_format, outcome_of
from tessera.services.wallets import new_subscriber

QUICK_OPERATIONS = frozenset({Operation.REDEEM, Operation.CONFIRM})


async def use_quickly(
    quick: BatchedStore,
    uow: UnitOfWork,
    secret: bytes,
    request: Request,
    operation: Operation,
    *,
    receives_shares: bool = False,
) -> Outcome | Decline:
    """Redeem or confirm by code in two awaited statements. ``uow`` is not entered: it lends
    its tenant, actor, clock and sealer. ``receives_shares``: other tenants of the group
    share voucher types with the caller's, so the read looks among those too (a marketplace
    code, written by the same statement with the issuer's side of its records)."""
    code, external_id = request.target.code, request.subscriber
    if operation not in QUICK_OPERATIONS or code is None or external_id is None:
        return Decline.OPERATION
    external_id = validate_external_id(external_id)
    if not known_format(uow.tenant_id, code):
        return Decline.FORMAT_UNKNOWN
    now = uow.clock()
    activity = check_activity_time(request.activity_at, now)
    scopes = bar_scopes(uow.actor_key_id, external_id)
    found = await quick.view(
        uow.tenant_id, code_hash(secret, code), scopes, external_id, marketplace=receives_shares
    )
    if found is None:
        return Decline.NOT_FOUND
    view = found.view
    if view.barred_until is not None and view.barred_until > now:
        return Decline.BARRED
    value = view.voucher_type.spec.purchase_value
    if value is not None and value.stored:
        return Decline.STORED_VALUE
    offer = view.voucher_type.spec.fulfilment_offer
    try:
        decision = decide_use(
            view,
            operation,
            view.subscriber or new_subscriber(external_id, now),
            new_subscriber=view.subscriber is None,
            activity=activity,
            now=now,
            bucket_ids=[] if offer else found.bucket_ids,
            request_id=new_id() if offer else None,
            subscriptions=Subscriptions.of(found.endpoints, found.templates),
            offer_parameters=request.offer_parameters,
            purchase=request.purchase,
        )
    except DomainError:
        return Decline.REFUSED
    moved = await BatchedLedger(quick, uow).write(decision)
    if isinstance(moved, Decline):
        return moved
    return outcome_of(decision, moved)
