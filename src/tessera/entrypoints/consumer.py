"""The stream entrance: events from NATS JetStream (stream ``TESSERA_EVENTS``, subjects
``tessera.events.<tenant>``, where <tenant> is the tenant's name or id).

Delivery is at least once: a message is acknowledged only after its batch has committed, and
a redelivered message finds its event id already stored, so each event has exactly one effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.errors import BadRequestError
from sqlalchemy.exc import SQLAlchemyError

from tessera.adapters import logs
from tessera.bootstrap import Container
from tessera.domain.errors import DomainError
from tessera.domain.events import Event
from tessera.services.tenants import find_tenant

log = structlog.get_logger(__name__)

STREAM = "TESSERA_EVENTS"
SUBJECTS = "tessera.events.*"


@dataclass
class ConsumerStats:
    messages: int = 0
    events: int = 0
    rejected: int = 0


def parse_message(data: bytes) -> list[Event]:
    """One event object, or ``{"events": [...]}``; raises ValueError for anything else."""
    body = json.loads(data)
    items: list[Any] = body["events"] if isinstance(body, dict) and "events" in body else [body]
    events = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("an event must be a JSON object")
        occurred = datetime.fromisoformat(str(item["occurred_at"]).replace("Z", "+00:00"))
        if occurred.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone offset")
        events.append(
            Event(
                str(item["id"]),
                str(item["subscriber"]),
                str(item["type"]),
                occurred,
                dict(item.get("attributes") or {}),
            )
        )
    return events


class EventConsumer:
    def __init__(
        self,
        container: Container,
        durable: str = "tessera",
        ack_wait: float = 30,
        subjects: str = SUBJECTS,
    ) -> None:
        self.container = container
        self.subjects = subjects
        self.durable = durable
        self.ack_wait = ack_wait
        self.stats = ConsumerStats()
        self._tenants: dict[str, uuid.UUID] = {}

    async def connect(self, url: str) -> tuple[NatsClient, Any]:
        nc = NatsClient()
        await nc.connect(url)
        js = nc.jetstream()
        with contextlib.suppress(BadRequestError):  # exists with another config: use it
            await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECTS]))
        sub = await js.pull_subscribe(
            self.subjects,
            durable=self.durable,
            stream=STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait),
        )
        return nc, sub

    def _tenant(self, subject: str) -> uuid.UUID:
        key = subject.rsplit(".", 1)[-1]
        if key not in self._tenants:
            self._tenants[key] = find_tenant(self.container.directory(), key).id
        return self._tenants[key]

    async def handle(self, messages: list[Msg]) -> None:
        """Stores a fetched batch, then acknowledges what was committed."""
        for msg in await self.store(messages):
            await msg.ack()

    async def store(self, messages: list[Msg]) -> list[Msg]:
        """Groups messages by tenant and commits each group; returns the messages to
        acknowledge. Malformed ones are terminated; a store failure asks for redelivery."""
        groups: dict[uuid.UUID, list[tuple[Msg, list[Event]]]] = defaultdict(list)
        for msg in messages:
            self.stats.messages += 1
            try:
                groups[self._tenant(msg.subject)].append((msg, parse_message(msg.data)))
            except (ValueError, KeyError, TypeError, DomainError) as exc:
                self.stats.rejected += 1
                log.warning(
                    "event message rejected",
                    subject=msg.subject,
                    error=str(exc),
                    redacting=logs.strings_of(msg.data[:65_536]),  # the error may quote it
                )
                await msg.term()  # a malformed message will never succeed: do not redeliver
        committed: list[Msg] = []
        for tenant_id, items in groups.items():
            events = [e for _, evs in items for e in evs]
            try:
                for start in range(0, len(events), 1000):
                    chunk = events[start : start + 1000]
                    await asyncio.to_thread(
                        self.container.rewards.ingest, self.container.uow(tenant_id), chunk
                    )
            except DomainError as exc:
                self.stats.rejected += len(items)
                log.warning("event batch refused", tenant=str(tenant_id), error=exc.message)
                for msg, _ in items:
                    await msg.term()
                continue
            except SQLAlchemyError as exc:  # the store is down or busy: try again later
                log.error("event batch not stored; will be redelivered", error=repr(exc))
                for msg, _ in items:
                    await msg.nak(delay=1)
                continue
            self.stats.events += len(events)
            committed += [msg for msg, _ in items]
        return committed

    async def run(self, url: str, stop: asyncio.Event, batch: int = 500) -> ConsumerStats:
        from nats.errors import TimeoutError as FetchTimeout

        nc, sub = await self.connect(url)
        try:
            while not stop.is_set():
                try:
                    messages = await sub.fetch(batch, timeout=0.5)
                except FetchTimeout:
                    continue
                await self.handle(messages)
        finally:
            await nc.drain()
        return self.stats
