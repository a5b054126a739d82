"""Wires settings, the engine and the clock together. Nothing here runs at import time:
``build`` is called by the app factory, the CLI and the tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from sqlalchemy.engine import Engine

from tessera.adapters import logs
from tessera.adapters.crypto import Sealer
from tessera.adapters.db.engine import create_engine
from tessera.adapters.db.migrate import upgrade
from tessera.adapters.db.repositories.quick_use import QuickUses
from tessera.adapters.db.unit_of_work import DirectoryUnitOfWork, OutboxUnitOfWork, UnitOfWork
from tessera.adapters.webhooks import WebhookTargets
from tessera.config import Settings
from tessera.domain.clock import Clock, system_clock
from tessera.domain.vouchers import BarPolicy
from tessera.services.purge import Retention
from tessera.services.rewards_engine import RewardsEngine


class MissingCodeSecret(RuntimeError):
    pass


@dataclass
class Container:
    settings: Settings
    engine: Engine
    clock: Clock = field(default=system_clock)
    rewards: RewardsEngine = field(init=False)
    # The point of sale's awaited path (PostgreSQL only): opened by the HTTP app on its
    # event loop, None elsewhere (see services/redemption.use_quickly).
    quick_uses: QuickUses | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.rewards = RewardsEngine(
            lambda: self.code_secret,
            pause_after_failures=self.settings.campaign_pause_after_failures,
        )

    async def open_quick_uses(self) -> None:
        if self.engine.dialect.name == "postgresql" and self.quick_uses is None:
            quick = QuickUses(self.settings.database_url)
            await quick.open()
            self.quick_uses = quick

    async def close_quick_uses(self) -> None:
        if self.quick_uses is not None:
            await self.quick_uses.close()
            self.quick_uses = None

    def uow(
        self,
        tenant_id: uuid.UUID,
        actor_key_id: uuid.UUID | None = None,
        *,
        read_only: bool = False,
    ) -> UnitOfWork:
        """``read_only``: the caller writes nothing, so on SQLite it reads beside the writers
        instead of queueing behind them (``adapters.db.engine.READ_ONLY``)."""
        return UnitOfWork(
            self.engine, tenant_id, actor_key_id, self.clock, self.sealer, read_only=read_only
        )

    @cached_property
    def sealer(self) -> Sealer | None:
        """None without ``TESSERA_LIST_KEY``: lists and webhooks then refuse to work."""
        key = self.settings.list_key
        return None if key is None else Sealer.from_base64(key.get_secret_value())

    @cached_property
    def webhook_targets(self) -> WebhookTargets:
        """Where webhooks may go (setting ``webhook_allowed_networks``)."""
        return WebhookTargets(self.settings.allowed_webhook_networks)

    @cached_property
    def bar_policy(self) -> BarPolicy:
        """When wrong codes bar a caller (settings ``bar_*``)."""
        s = self.settings
        return BarPolicy(
            threshold=s.bar_threshold,
            window=timedelta(seconds=s.bar_window_seconds),
            period=timedelta(seconds=s.bar_period_seconds),
            key_threshold=s.bar_key_threshold,
        )

    @cached_property
    def retention(self) -> Retention:
        """How long the purge keeps each kind of row (settings ``*_retention_*``)."""
        s = self.settings
        return Retention(
            events=timedelta(days=s.event_retention_days),
            aggregate_windows=timedelta(days=s.aggregate_retention_days),
            notifications=timedelta(days=s.notification_retention_days),
            idempotency_keys=timedelta(hours=s.idempotency_retention_hours),
            failed_attempts=timedelta(hours=s.failed_attempt_retention_hours),
            buckets=timedelta(days=s.bucket_retention_days),
            bar_window=timedelta(seconds=s.bar_window_seconds),
        )

    def directory(self, *, read_only: bool = False) -> DirectoryUnitOfWork:
        """``read_only``: as for ``uow`` (resolving a key on every request writes nothing)."""
        return DirectoryUnitOfWork(self.engine, self.clock, read_only=read_only)

    @property
    def code_secret(self) -> bytes:
        """The server secret for code hashes; nothing that touches codes runs without it."""
        secret = self.settings.code_secret
        if secret is None or not secret.get_secret_value():
            raise MissingCodeSecret(
                "TESSERA_CODE_SECRET is not set: voucher codes cannot be hashed without it"
            )
        return secret.get_secret_value().encode()

    def outbox(self) -> OutboxUnitOfWork:
        return OutboxUnitOfWork(self.engine, self.clock)

    def migrate(self) -> None:
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def configure_logging(settings: Settings) -> None:
    """Logging for this process (see adapters/logs.py): the server secrets are named to it
    so that no line can show them."""
    secrets = [
        s.get_secret_value() for s in (settings.code_secret, settings.list_key) if s is not None
    ]
    logs.configure(level=settings.log_level, json=settings.log_json, secrets=secrets)


def build(settings: Settings | None = None, clock: Clock = system_clock) -> Container:
    settings = settings or Settings()
    configure_logging(settings)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    return Container(settings=settings, engine=engine, clock=clock)
