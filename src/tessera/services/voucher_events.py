"""The one hook point where voucher notifications will be enqueued.

The notifications outbox (issue 5) is built in parallel; at merge, ``enqueue_voucher_event``
calls its ``enqueue(uow, event_type, payload)``, inside the caller's transaction, so that a
notification exists exactly when the change it reports committed.
"""

from __future__ import annotations

from typing import Any

from tessera.adapters.db.unit_of_work import UnitOfWork

VOUCHER_REDEEMED = "voucher.redeemed"
VOUCHER_EXPIRED = "voucher.expired"


def enqueue_voucher_event(uow: UnitOfWork, event_type: str, payload: dict[str, Any]) -> None:
    """No-op until the outbox lands: ``outbox.enqueue(uow, event_type, payload)``."""
    del uow, event_type, payload
