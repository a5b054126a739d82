"""The unit of work: one connection, one transaction, the repositories of one tenant.

Everything a use case writes (the change, the wallet movement, the EDR) commits together or
not at all. Leaving the block without ``commit()`` rolls back.

Entering a unit of work that is already open joins its transaction through a savepoint: the
inner ``commit()`` keeps the inner changes for the outer transaction to commit, leaving
without it undoes only them. The idempotency helper uses this to store a call's answer in
the same transaction as the change the call made.
"""

from __future__ import annotations

import uuid
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tessera.adapters.crypto import Sealer
from tessera.adapters.db.engine import READ_ONLY
from tessera.adapters.db.repositories.activity_reports import ActivityQueries
from tessera.adapters.db.repositories.attempts import FailedAttemptRepository
from tessera.adapters.db.repositories.batches import (
    BatchRepository,
    BatchVoucherRepository,
    GeneratingBatches,
)
from tessera.adapters.db.repositories.brands import BrandRepository
from tessera.adapters.db.repositories.care import CareReads
from tessera.adapters.db.repositories.catalog import LifecycleRepository, VoucherTypeRepository
from tessera.adapters.db.repositories.dashboard import DashboardQueries
from tessera.adapters.db.repositories.edr_blocks import EdrBlockRepository, EdrHorizon
from tessera.adapters.db.repositories.edrs import EdrRepository
from tessera.adapters.db.repositories.fulfilment import FulfilmentRequestRepository
from tessera.adapters.db.repositories.idempotency import IdempotencyRepository
from tessera.adapters.db.repositories.leases import Leases
from tessera.adapters.db.repositories.lists import (
    ListCodeRepository,
    ListHoldingRepository,
    ListUploadRepository,
    VoucherListRepository,
)
from tessera.adapters.db.repositories.marketplace import GroupSettlement, MarketplaceLines
from tessera.adapters.db.repositories.notifications import (
    MessageTemplateRepository,
    NotificationRepository,
    OutboxQueue,
    WebhookEndpointRepository,
)
from tessera.adapters.db.repositories.purge import PurgeRepository
from tessera.adapters.db.repositories.quick_distribution import QuickDistribution
from tessera.adapters.db.repositories.reports import ReportQueries
from tessera.adapters.db.repositories.rewards import (
    AggregateRepository,
    CampaignRepository,
    EventRepository,
    IngestRepository,
    RewardRepository,
)
from tessera.adapters.db.repositories.serials import SerialCounter
from tessera.adapters.db.repositories.settlement import SettlementRepository
from tessera.adapters.db.repositories.shares import VoucherTypeShareRepository
from tessera.adapters.db.repositories.subscribers import BucketRepository, SubscriberRepository
from tessera.adapters.db.repositories.tenants import (
    ApiKeyRepository,
    ConsoleSessions,
    TenantDirectory,
)
from tessera.adapters.db.repositories.voucher_counts import VoucherCountQueries
from tessera.adapters.db.repositories.vouchers import VoucherRepository
from tessera.domain.clock import Clock, system_clock
from tessera.domain.errors import Unavailable


class _Transaction:
    def __init__(self, engine: Engine, clock: Clock, *, read_only: bool = False) -> None:
        self.engine = engine
        self.clock = clock
        self.read_only = read_only  # its transaction writes nothing: see engine.READ_ONLY
        self.conn: sa.Connection
        self._stack: list[sa.RootTransaction | sa.NestedTransaction] = []

    @property
    def is_open(self) -> bool:
        return bool(self._stack)

    def _open(self) -> bool:
        """Begin (True), or join the open transaction with a savepoint (False)."""
        if self._stack:
            self._stack.append(self.conn.begin_nested())
            return False
        self.conn = self.engine.connect()
        if self.read_only:
            self.conn.execution_options(**{READ_ONLY: True})
        self._stack.append(self.conn.begin())
        return True

    def commit(self) -> None:
        self._stack[-1].commit()

    def rollback(self) -> None:
        if self._stack and self._stack[-1].is_active:
            self._stack[-1].rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self._stack.pop()
            if not self._stack:
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
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(engine, clock, read_only=read_only)
        self.tenant_id = tenant_id
        self.actor_key_id = actor_key_id
        self._sealer = sealer
        # The lists the calling key is bound to (a partner key's; None: every list).
        self.bound_lists: frozenset[uuid.UUID] | None = None

    @property
    def sealer(self) -> Sealer:
        """Seals partner codes, webhook secrets and queued notifications (AES-GCM)."""
        if self._sealer is None:
            raise Unavailable(
                "TESSERA_LIST_KEY is not set: partner codes and webhook secrets cannot be sealed",
                code="list_key_missing",
            )
        return self._sealer

    def quick_distribution(self) -> QuickDistribution | None:
        """The one-statement distribution (PostgreSQL), for a call that is its own
        transaction: None on SQLite, and inside an open unit of work (an Idempotency-Key's
        answer must commit with the change)."""
        if self.engine.dialect.name != "postgresql" or self.is_open:
            return None
        return QuickDistribution(self.engine, self.tenant_id, self.actor_key_id)

    def __enter__(self) -> UnitOfWork:
        if not self._open():
            return self
        conn, tenant = self.conn, self.tenant_id
        self.keys = ApiKeyRepository(conn, tenant)
        self.lifecycles = LifecycleRepository(conn, tenant)
        self.voucher_types = VoucherTypeRepository(conn, tenant)
        self.subscribers = SubscriberRepository(conn, tenant)
        self.buckets = BucketRepository(conn, tenant)
        self.edrs = EdrRepository(conn, tenant, self.actor_key_id)
        self.edr_blocks = EdrBlockRepository(conn, tenant)
        self.reports = ReportQueries(conn, tenant)
        self.voucher_counts = VoucherCountQueries(conn, tenant)
        self.settlement = SettlementRepository(conn, tenant)
        self.activity = ActivityQueries(conn, tenant)
        self.serials = SerialCounter(conn, tenant)
        self.events = EventRepository(conn, tenant)
        self.ingest = IngestRepository(conn, tenant)
        self.aggregates = AggregateRepository(conn, tenant)
        self.campaigns = CampaignRepository(conn, tenant)
        self.rewards = RewardRepository(conn, tenant)
        self.lists = VoucherListRepository(conn, tenant)
        self.list_codes = ListCodeRepository(conn, tenant)
        self.list_holdings = ListHoldingRepository(conn, tenant)
        self.list_uploads = ListUploadRepository(conn, tenant)
        self.webhooks = WebhookEndpointRepository(conn, tenant)
        self.templates = MessageTemplateRepository(conn, tenant)
        self.notifications = NotificationRepository(conn, tenant)
        self.batches = BatchRepository(conn, tenant)
        self.batch_vouchers = BatchVoucherRepository(conn, tenant)
        self.vouchers = VoucherRepository(conn, tenant)
        self.idempotency = IdempotencyRepository(conn, tenant)
        self.attempts = FailedAttemptRepository(conn, tenant)
        self.fulfilment = FulfilmentRequestRepository(conn, tenant)
        self.purge = PurgeRepository(conn, tenant)
        self.dashboard = DashboardQueries(conn, tenant)
        self.care = CareReads(conn, tenant)
        self.brands = BrandRepository(conn, tenant)  # the brands this tenant hosts, if any
        self.shares = VoucherTypeShareRepository(conn, tenant)
        self.marketplace = MarketplaceLines(conn, tenant)
        self.group_settlement = GroupSettlement(conn, tenant)
        return self


class DirectoryUnitOfWork(_Transaction):
    """Above tenancy: creating tenants and resolving keys, the background jobs' leases."""

    def __enter__(self) -> DirectoryUnitOfWork:
        self._open()
        self.tenants = TenantDirectory(self.conn)
        self.sessions = ConsoleSessions(self.conn)
        self.generating_batches = GeneratingBatches(self.conn)
        self.leases = Leases(self.conn)
        self.edr_horizon = EdrHorizon(self.conn)
        return self


class OutboxUnitOfWork(_Transaction):
    """Above tenancy: the dispatcher claiming and settling notifications of every tenant."""

    def __enter__(self) -> OutboxUnitOfWork:
        self._open()
        self.queue = OutboxQueue(self.conn)
        return self
