"""The dispatcher: delivers queued notifications to webhook endpoints.

A round claims due notifications (hidden from other dispatchers for a lease), posts each
one signed, logs the attempt, and settles it: delivered, retried later with exponential
backoff, or dead after the last attempt, where it waits for an operator's retry.
Runs as the ``dispatch`` job of ``tessera worker`` and once with ``tessera dispatch``.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import structlog

from tessera.adapters.crypto import Sealer
from tessera.adapters.db.repositories.notifications import Claimed
from tessera.adapters.webhooks import (
    SIGNATURE_HEADER,
    PostResult,
    Target,
    WebhookSender,
    sign,
)
from tessera.bootstrap import Container
from tessera.domain.errors import Unavailable
from tessera.domain.notifications import NotificationStatus, backoff
from tessera.services.notifications import payload_context, secret_context

log = structlog.get_logger(__name__)
PARALLEL_POSTS = 8


@dataclass
class RoundResult:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    @property
    def claimed(self) -> int:
        return self.delivered + self.retrying + self.dead

    def add(self, other: RoundResult) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.dead += other.dead


class Dispatcher:
    def __init__(self, container: Container) -> None:
        if container.sealer is None:
            raise Unavailable("TESSERA_LIST_KEY is not set: webhook secrets cannot be opened")
        self.container = container
        self.sealer: Sealer = container.sealer
        self.settings = container.settings
        self.sender = WebhookSender(self.settings.webhook_timeout_seconds)
        self.targets = container.webhook_targets
        self.lease = timedelta(seconds=max(60.0, 4 * self.settings.webhook_timeout_seconds))

    def close(self) -> None:
        self.sender.close()

    def run_round(self) -> RoundResult:
        now = self.container.clock()
        with self.container.outbox() as outbox:
            claimed = outbox.queue.claim(now, now + self.lease, self.settings.dispatch_batch)
            outbox.commit()
        result = RoundResult()
        if not claimed:
            return result
        with ThreadPoolExecutor(max_workers=min(PARALLEL_POSTS, len(claimed))) as pool:
            for status in pool.map(self._deliver, claimed):
                if status is NotificationStatus.DELIVERED:
                    result.delivered += 1
                elif status is NotificationStatus.DEAD:
                    result.dead += 1
                else:
                    result.retrying += 1
        return result

    def run_until_idle(self, max_rounds: int = 1000) -> RoundResult:
        """Rounds until nothing is due now (what ``tessera dispatch`` does)."""
        total = RoundResult()
        for _ in range(max_rounds):
            result = self.run_round()
            total.add(result)
            if result.claimed == 0:
                break
        return total

    def _deliver(self, item: Claimed) -> NotificationStatus:
        if not item.endpoint_active:
            return self._settle(item, PostResult(None, "the webhook endpoint is disabled", 0))
        target = self.targets.target(item.url)  # resolved now: DNS may have changed since
        if isinstance(target, str):
            return self._settle(item, PostResult(None, f"refused: {target}", 0))
        return self._settle(item, self._post(item, target))

    def _post(self, item: Claimed, target: Target) -> PostResult:
        payload = json.loads(self.sealer.open(item.payload_sealed, payload_context(item.tenant_id)))
        body = json.dumps({"id": item.id, **payload}, separators=(",", ":")).encode()
        secret = self.sealer.open(item.secret_sealed, secret_context(item.endpoint_id)).decode()
        timestamp = int(self.container.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "tessera-webhooks/1",
            "Tessera-Event": item.event_type,
            "Tessera-Delivery": str(item.id),
            "Tessera-Timestamp": str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        return self.sender.post(target, body, headers)

    def _settle(self, item: Claimed, result: PostResult) -> NotificationStatus:
        now = self.container.clock()
        attempts = item.attempts + 1
        settings = self.settings
        if result.error is None:
            status, next_at = NotificationStatus.DELIVERED, now
        elif attempts >= settings.webhook_max_attempts or not item.endpoint_active:
            status, next_at = NotificationStatus.DEAD, now
        else:
            status = NotificationStatus.PENDING
            wait = backoff(
                attempts, settings.webhook_backoff_seconds, settings.webhook_backoff_max_seconds
            )
            next_at = now + wait
        with self.container.outbox() as outbox:
            if item.endpoint_active:
                outbox.queue.log_attempt(
                    item, now, result.status_code, result.error, result.duration_ms
                )
            outbox.queue.settle(
                item.id,
                status,
                attempts,
                next_at,
                result.error,
                now if status is NotificationStatus.DELIVERED else None,
            )
            outbox.commit()
        # One line per attempt is for debugging; at the default level only a notification
        # given up on is said (the metrics and the attempts table count the rest).
        report = log.warning if status is NotificationStatus.DEAD else log.debug
        report(
            "webhook attempt",
            notification=item.id,
            tenant=str(item.tenant_id),
            event_type=item.event_type,
            attempt=attempts,
            status_code=result.status_code,
            error=result.error,
            outcome=status.value,
        )
        return status


def dispatch_once(container: Container) -> RoundResult:
    """Deliver everything due now, then return (``tessera dispatch``)."""
    dispatcher = Dispatcher(container)
    try:
        return dispatcher.run_until_idle()
    finally:
        dispatcher.close()
