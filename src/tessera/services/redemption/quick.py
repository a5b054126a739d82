"""The point of sale's common case on PostgreSQL: the same decision as every use, written by
the batched ledger (``adapters/db/repositories/quick_use.py``) in one shared statement.

``use_quickly`` answers an ``Outcome`` or a ``Decline`` naming why it left the call to the
transactional path (which decides again and gives every refusal its full answer). Nothing is
written before a decline. The point of sale counts each decline by its reason."""

from __future__ import annotations

from enum import StrEnum

from tessera.adapters.db.repositories.quick_use import QuickUses, WriteRefused
from tessera.adapters.db.unit_of_work import UnitOfWork
from tessera.domain.code_hash import code_hash
from tessera.domain.errors import DomainError
from tessera.domain.statuses import Operation
from tessera.domain.vouchers import bar_scopes, check_activity_time
from tessera.domain.wallet import validate_external_id
from tessera.services.redemption.decision import decide_use
from tessera.services.redemption.operations import Outcome, Request, known_format, outcome_of
from tessera.services.wallets import new_subscriber

QUICK_OPERATIONS = frozenset({Operation.REDEEM, Operation.CONFIRM})


class Decline(StrEnum):
    """Why a use went to the transactional path (the label of
    ``tessera_redemption_path_total{path="transactional"}``)."""

    OPERATION = "operation"  # not a redeem or confirm by code with a subscriber
    FORMAT_UNKNOWN = "format_unknown"  # the code fits no format known to this worker yet
    NOT_FOUND = "not_found"  # no such code, or the read failed
    WEBHOOKS = "webhooks"  # the tenant wants voucher.redeemed: the outbox is written there
    BARRED = "barred"
    FULFILMENT = "fulfilment"  # a type with an offer: the request is written there
    REFUSED = "refused"  # the rules refuse it: the full answer comes from there
    LOST_RACE = "lost_race"  # the voucher changed, or the subscriber appeared, meanwhile
    WRITE_REFUSED = "write_refused"  # the shared statement was refused (logged as a warning)


async def use_quickly(
    quick: QuickUses, uow: UnitOfWork, secret: bytes, request: Request, operation: Operation
) -> Outcome | Decline:
    """Redeem or confirm by code in two awaited statements. ``uow`` is not entered: it lends
    its tenant, actor and clock."""
    code, external_id = request.target.code, request.subscriber
    if operation not in QUICK_OPERATIONS or code is None or external_id is None:
        return Decline.OPERATION
    external_id = validate_external_id(external_id)
    if not known_format(uow.tenant_id, code):
        return Decline.FORMAT_UNKNOWN
    now = uow.clock()
    activity = check_activity_time(request.activity_at, now)
    scopes = bar_scopes(uow.actor_key_id, external_id)
    found = await quick.view(uow.tenant_id, code_hash(secret, code), scopes, external_id)
    if found is None:
        return Decline.NOT_FOUND
    if found.webhooks:
        return Decline.WEBHOOKS
    view = found.view
    if view.barred_until is not None and view.barred_until > now:
        return Decline.BARRED
    if view.voucher_type.spec.fulfilment_offer is not None:
        return Decline.FULFILMENT
    try:
        decision = decide_use(
            view,
            operation,
            view.subscriber or new_subscriber(external_id, now),
            new_subscriber=view.subscriber is None,
            activity=activity,
            now=now,
            bucket_ids=found.bucket_ids,
            request_id=None,
        )
    except DomainError:
        return Decline.REFUSED
    moved = await quick.use(
        uow.tenant_id,
        decision.voucher,
        decision.expected,
        decision.new_status,
        now,
        decision.subscriber,
        decision.new_subscriber,
        decision.grants,
        decision.edrs,
        uow.actor_key_id,
    )
    if moved is None:
        return Decline.LOST_RACE
    if isinstance(moved, WriteRefused):
        return Decline.WRITE_REFUSED
    return outcome_of(decision, moved)
