"""The unit of work: one connection, one transaction, the repositories of one tenant.

Everything a use case writes (the change, the wallet movement, the EDR) commits together or
not at all. Leaving the block without ``commit()`` rolls back.
"""

from __future__ import annotations

import uuid
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tessera.adapters.crypto import Sealer
from tessera.adapters.db.repositories.batches import (
    BatchRepository,
    BatchVoucherRepository,
    GeneratingBatches,
)
from tessera.adapters.db.repositories.catalog import LifecycleRepository, VoucherTypeRepository
from tessera.adapters.db.repositories.edrs import EdrRepository
from tessera.adapters.db.repositories.lists import (
    ListCodeRepository,
    ListUploadRepository,
    VoucherListRepository,
)
from tessera.adapters.db.repositories.notifications import (
    MessageTemplateRepository,
    NotificationRepository,
    OutboxQueue,
    WebhookEndpointRepository,
)
from tessera.adapters.db.repositories.serials import SerialCounter
from tessera.adapters.db.repositories.subscribers import BucketRepository, SubscriberRepository
from tessera.adapters.db.repositories.tenants import ApiKeyRepository, TenantDirectory
from tessera.domain.clock import Clock, system_clock
from tessera.domain.errors import Unavailable


class _Transaction:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.conn: sa.Connection
        self._tx: sa.RootTransaction

    def _open(self) -> None:
        self.conn = self.engine.connect()
        self._tx = self.conn.begin()

    def commit(self) -> None:
        self._tx.commit()

    def rollback(self) -> None:
        if self._tx.is_active:
            self._tx.rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self.conn.close()


class UnitOfWork(_Transaction):
    """The repositories of one tenant, acting as one key (the EDRs' actor)."""

    def __init__(
        self,
        engine: Engine,
        tenant_id: uuid.UUID,
        actor_key_id: uuid.UUID | None = None,
        clock: Clock = system_clock,
        sealer: Sealer | None = None,
    ) -> None:
        super().__init__(engine, clock)
        self.tenant_id = tenant_id
        self.actor_key_id = actor_key_id
        self._sealer = sealer

    @property
    def sealer(self) -> Sealer:
        """Seals partner codes, webhook secrets and queued notifications (AES-GCM)."""
        if self._sealer is None:
            raise Unavailable(
                "TESSERA_LIST_KEY is not set: partner codes and webhook secrets cannot be sealed",
                code="list_key_missing",
            )
        return self._sealer

    def __enter__(self) -> UnitOfWork:
        self._open()
        conn, tenant = self.conn, self.tenant_id
        self.keys = ApiKeyRepository(conn, tenant)
        self.lifecycles = LifecycleRepository(conn, tenant)
        self.voucher_types = VoucherTypeRepository(conn, tenant)
        self.subscribers = SubscriberRepository(conn, tenant)
        self.buckets = BucketRepository(conn, tenant)
        self.edrs = EdrRepository(conn, tenant, self.actor_key_id)
        self.serials = SerialCounter(conn, tenant)
        self.lists = VoucherListRepository(conn, tenant)
        self.list_codes = ListCodeRepository(conn, tenant)
        self.list_uploads = ListUploadRepository(conn, tenant)
        self.webhooks = WebhookEndpointRepository(conn, tenant)
        self.templates = MessageTemplateRepository(conn, tenant)
        self.notifications = NotificationRepository(conn, tenant)
        self.batches = BatchRepository(conn, tenant)
        self.batch_vouchers = BatchVoucherRepository(conn, tenant)
        return self


class DirectoryUnitOfWork(_Transaction):
    """Above tenancy: creating tenants and resolving keys."""

    def __enter__(self) -> DirectoryUnitOfWork:
        self._open()
        self.tenants = TenantDirectory(self.conn)
        self.generating_batches = GeneratingBatches(self.conn)
        return self


class OutboxUnitOfWork(_Transaction):
    """Above tenancy: the dispatcher claiming and settling notifications of every tenant."""

    def __enter__(self) -> OutboxUnitOfWork:
        self._open()
        self.queue = OutboxQueue(self.conn)
        return self
