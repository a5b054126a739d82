"""The NATS JetStream consumer against this machine's real NATS server."""

import asyncio
import json
import os
import uuid

import pytest

from tessera.domain.campaigns import CampaignSpec, CampaignStatus, RewardKind, RewardSpec
from tessera.entrypoints.consumer import EventConsumer
from tessera.services import campaigns, wallets

NATS_URL = os.environ.get("TESSERA_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_reachable() -> bool:
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(NATS_URL)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 4222), timeout=1).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _nats_reachable() and os.environ.get("CI") != "true", reason=f"no NATS server at {NATS_URL}"
)


def test_a_redelivered_message_has_exactly_one_effect(container, tenant):
    tenant_id = tenant[0]
    campaigns.create_campaign(
        container.uow(tenant_id),
        CampaignSpec(
            name="stream bonus",
            trigger_types=("topup",),
            condition="event.attributes.amount >= 100",
            rewards=(RewardSpec(RewardKind.CREDIT_BUCKET, balance_type="sms", amount=10),),
            status=CampaignStatus.ACTIVE,
        ),
    )
    subject = f"tessera.events.{tenant_id}"
    event = {
        "id": f"t-{uuid.uuid4()}",
        "subscriber": "254799",
        "type": "topup",
        "occurred_at": "2026-11-23T10:00:00Z",
        "attributes": {"amount": 150},
    }

    async def scenario() -> None:
        consumer = EventConsumer(
            container, durable=f"test-{uuid.uuid4().hex[:8]}", ack_wait=1, subjects=subject
        )
        nc, sub = await consumer.connect(NATS_URL)
        try:
            js = nc.jetstream()
            await js.publish(subject, json.dumps(event).encode())
            await js.publish(subject, b"{not json")
            # First delivery: the batch commits, then the process "dies" before acknowledging.
            first = await sub.fetch(2, timeout=5)
            committed = await consumer.store(first)
            assert len(committed) == 1  # the malformed message was terminated, not kept
            # JetStream redelivers after ack_wait; the consumer stores nothing twice and acks.
            again = await sub.fetch(1, timeout=5)
            assert again[0].metadata.num_delivered == 2
            await consumer.handle(again)
            assert consumer.stats.rejected == 1
            assert consumer.stats.events == 2  # stored twice, counted once below
        finally:
            await nc.close()

    asyncio.run(scenario())
    assert wallets.get_wallet(container.uow(tenant_id), "254799").totals(container.clock()) == {
        "sms": 10
    }
