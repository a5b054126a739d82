"""The point of sale's common case on PostgreSQL: one read, one write, shared under load.

A redemption through the unit of work costs a BEGIN, five statements and a COMMIT, each a
round trip with SQLAlchemy's per-statement work on top. Here the read returns the voucher
with its type, its lifecycle, the caller's bar, the subscriber and the ids of the buckets
to be credited (drawn from their sequence); the rules decide in Python as usual; then one
statement writes everything: its first part is the compare-and-set on the voucher's status,
and the bucket and EDR inserts read from it, so they happen only for a voucher that moved.
A single statement is its own transaction, so the voucher, the wallet and the records commit
together or not at all.

Under load, the reads (and the writes) that arrive while earlier ones are in flight go to
the database together, as one statement over all of them (``_Batches``): one round trip,
one plan and one commit serve many redemptions, each still its own compare-and-set. Alone,
a request goes at once. The write is all or nothing for the statement: if any part of it is
refused, none of its redemptions is written and each takes the transactional path.

Both statements run as prepared statements on an asyncpg pool, awaited on the HTTP worker's
event loop with no thread hand-off. asyncpg rather than psycopg here, for one reason:
measured on this path, a query costs the worker 0.24 ms of CPU with asyncpg and 0.45 ms
with psycopg's asyncio connection (`bench/RESULTS-redeem.md`). Everything else uses psycopg
through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import make_url

from tessera.adapters.db import tables as t
from tessera.adapters.db.repositories.catalog import _lifecycle, _voucher_type
from tessera.adapters.db.repositories.edrs import draft_columns
from tessera.adapters.db.repositories.subscribers import _subscriber
from tessera.adapters.db.repositories.vouchers import (
    VoucherView,
    _view_statement,
    _voucher,
    shared_use,
)
from tessera.domain.edr import EdrDraft
from tessera.domain.errors import Unavailable
from tessera.domain.statuses import VoucherStatus
from tessera.domain.vouchers import Voucher
from tessera.domain.wallet import BucketGrant, Subscriber

fa = t.failed_attempts
log = structlog.get_logger(__name__)


class OutcomeUnknown(Unavailable):
    """The connection broke after the write was sent: it may or may not have committed."""

    code = "outcome_unknown"

    def __init__(self) -> None:
        super().__init__(
            "the database did not confirm the redemption: validate the code to see whether it "
            "was used, and send an Idempotency-Key to retry safely"
        )


@dataclass(frozen=True, slots=True)
class QuickView:
    view: VoucherView
    bucket_ids: list[int]  # one per bucket template of the type, in order
    # The tenant's active endpoints that want a use's notifications (id, event types), in id
    # order, and its templates of those notifications (event type, language, body), in the
    # order MessageTemplateRepository.pick prefers them.
    endpoints: list[tuple[uuid.UUID, list[str]]]
    templates: list[tuple[str, str, str]]


@functools.cache
def _read_sql(dialect: sa.Dialect, bucket_sequence: str, marketplace: bool = False) -> str:
    """The read of many requests at once: each row of ``asked`` (tenant, code hash, the
    caller's bar scopes, the subscriber, and its place ``n``) joins the read of one.
    ``bucket_sequence``: the buckets id sequence, looked up once (looking it up in the query,
    with pg_get_serial_sequence, cost more than the rest of the query). ``marketplace``: a
    caller's own code, else one of a type another tenant of its group shares with it."""
    tenant = sa.bindparam("tenant", type_=sa.Uuid)
    bar = (
        sa.select(sa.func.max(fa.c.barred_until))
        .where(fa.c.tenant_id == tenant, fa.c.scope == sa.func.any(sa.bindparam("scopes")))
        .scalar_subquery()
    )
    bucket_ids = sa.text(
        f"ARRAY(SELECT nextval('{bucket_sequence}'::regclass) "  # noqa: S608 - from the catalog
        "FROM generate_series(1, jsonb_array_length(voucher_types.buckets))) AS bucket_ids"
    )
    # A use's notifications (services/redemption/decision.py, USE_EVENTS): the endpoints that
    # want them and, only when there is one (HAVING: no row, no templates read), the templates.
    webhooks = sa.text(
        "(SELECT jsonb_build_array(jsonb_agg(jsonb_build_array(w.id, w.event_types) "
        "ORDER BY w.id), (SELECT jsonb_agg(jsonb_build_array(m.event_type, m.language, m.body) "
        "ORDER BY m.event_type, m.id) FROM message_templates AS m "
        "WHERE m.tenant_id = :tenant "
        "AND m.event_type IN ('voucher.redeemed', 'fulfilment.requested'))) "
        "FROM webhook_endpoints AS w WHERE w.tenant_id = :tenant AND w.active "
        "AND w.event_types ?| ARRAY['voucher.redeemed', 'fulfilment.requested'] "
        "HAVING count(*) > 0) AS webhooks"
    )
    one = str(
        _view_statement(True, False, True, False, marketplace)
        .add_columns(bar.label("barred_until"), bucket_ids, webhooks)
        .compile(dialect=dialect)
    )
    # The single read's parameters become the columns of its row in ``asked``.
    columns = {
        "tenant": "asked.tenant",
        "key": "asked.key",
        "scopes": "ARRAY[asked.first_scope, asked.second_scope]",
        "external_id": "asked.external_id",
    }
    one = re.sub(r"%\((\w+)\)s", lambda m: columns[m.group(1)], one)
    # ``one`` is our own compiled statement; every value is a parameter.
    return (
        "SELECT asked.n, one.* FROM unnest(%(tenants)s::uuid[], "  # noqa: S608
        "%(keys)s::bytea[], %(first_scopes)s::text[], %(second_scopes)s::text[], "
        "%(external_ids)s::text[]) "
        "WITH ORDINALITY AS asked(tenant, key, first_scope, second_scope, external_id, n) "
        f"CROSS JOIN LATERAL ({one}) AS one"
    )


def _positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``%(name)s`` placeholders to asyncpg's ``$n``, and the names in their order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), tuple(names)


# The write of many redemptions at once, one row of ``asked`` each. ``moved`` is the
# compare-and-set; the inserts join it, so they write nothing for a voucher that did not
# move. A lapsed hold is matched as a reservation whose hold has passed (the rules judged it
# available), never a live one. A subscriber first heard of here is created first; if another
# call created them meanwhile, they are not in ``joined`` and their voucher does not move
# (the caller then takes the slow path). Two rows for one voucher move it once. The
# fulfilment request and the outbox rows (payloads sealed by the caller) join ``moved`` too.
# A marketplace use (``issuer``: the voucher's tenant, not the caller's) moves the issuer's
# row only while its type is shared with the caller (as base.shared_with says), keeps the
# caller's subscriber off it, and writes the issuer's side of the records in its records.
_WRITE_SQL = """
WITH asked AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(%(asked)s::jsonb) AS asked(
        n int, tenant uuid, voucher_id bigint, expected text, lapsed boolean, new text,
        now timestamptz, subscriber_id uuid, external_id text, service_state text,
        new_subscriber boolean, actor uuid, buckets jsonb, edrs jsonb, fulfilment jsonb,
        outbox jsonb, issuer uuid, issuer_edrs jsonb)
), joined AS (
    INSERT INTO subscribers (id, tenant_id, external_id, attributes, service_state,
                             created_at, updated_at)
    SELECT subscriber_id, tenant, external_id, '{}'::jsonb, service_state, now, now
      FROM asked
     WHERE new_subscriber
    ON CONFLICT (tenant_id, external_id) DO NOTHING
    RETURNING id
), moved AS (
    UPDATE vouchers
       SET status = asked.new, status_changed_at = asked.now,
           subscriber_id = CASE WHEN asked.issuer IS NULL THEN asked.subscriber_id
                                ELSE vouchers.subscriber_id END,
           reserved_until = NULL
      FROM asked
     WHERE vouchers.id = ANY(%(voucher_ids)s::bigint[])  -- by primary key, never a scan
       AND vouchers.id = asked.voucher_id
       AND vouchers.tenant_id = coalesce(asked.issuer, asked.tenant)
       AND (asked.issuer IS NULL OR EXISTS (
            SELECT FROM voucher_type_shares AS s
             WHERE s.brand_id = asked.tenant AND s.tenant_id = asked.issuer
               AND s.voucher_type_id = vouchers.voucher_type_id))
       AND CASE WHEN asked.lapsed
                THEN vouchers.status = 'reserved' AND vouchers.reserved_until <= asked.now
                ELSE vouchers.status = asked.expected END
       AND (NOT asked.new_subscriber
            OR EXISTS (SELECT FROM joined WHERE joined.id = asked.subscriber_id))
 RETURNING vouchers.*, asked.n
), credited AS (
    INSERT INTO buckets (id, tenant_id, subscriber_id, balance_type, amount, expires_at,
                         created_at)
    SELECT b.id, asked.tenant, asked.subscriber_id, b.balance_type, b.amount, b.expires_at,
           asked.now
      FROM moved JOIN asked ON asked.n = moved.n,
           jsonb_to_recordset(asked.buckets)
           AS b(id bigint, balance_type text, amount bigint, expires_at timestamptz)
), recorded AS (
    INSERT INTO edrs (tenant_id, occurred_at, actor_key_id, operation, subject_type,
                      subject_id, status_before, status_after, amount_minor, currency, details,
                      subscriber)
    SELECT asked.tenant, asked.now, asked.actor, e.operation, e.subject_type, e.subject_id,
           e.status_before, e.status_after, e.amount_minor, e.currency, e.details, e.subscriber
      FROM moved JOIN asked ON asked.n = moved.n,
           jsonb_to_recordset(asked.edrs)
           AS e(n int, operation text, subject_type text, subject_id text, status_before text,
                status_after text, amount_minor bigint, currency text, details jsonb,
                subscriber text)
     ORDER BY asked.n, e.n
), recorded_for_issuer AS (
    INSERT INTO edrs (tenant_id, occurred_at, actor_key_id, operation, subject_type,
                      subject_id, status_before, status_after, amount_minor, currency, details,
                      subscriber)
    SELECT asked.issuer, asked.now, NULL, e.operation, e.subject_type, e.subject_id,
           e.status_before, e.status_after, e.amount_minor, e.currency, e.details, e.subscriber
      FROM moved JOIN asked ON asked.n = moved.n,
           jsonb_to_recordset(asked.issuer_edrs)
           AS e(n int, operation text, subject_type text, subject_id text, status_before text,
                status_after text, amount_minor bigint, currency text, details jsonb,
                subscriber text)
     WHERE asked.issuer IS NOT NULL
     ORDER BY asked.n, e.n
), requested AS (
    INSERT INTO fulfilment_requests (id, tenant_id, voucher_id, serial, subscriber_id, offer,
                                     action, status, created_at, parameters)
    SELECT (asked.fulfilment->>'id')::uuid, asked.tenant, moved.id, moved.serial,
           asked.subscriber_id, asked.fulfilment->>'offer', asked.fulfilment->>'action',
           'pending', asked.now, asked.fulfilment->'parameters'
      FROM moved JOIN asked ON asked.n = moved.n
     WHERE jsonb_typeof(asked.fulfilment) = 'object'
), queued AS (
    INSERT INTO notifications (tenant_id, endpoint_id, event_type, payload_sealed, status,
                               attempts, next_attempt_at, created_at)
    SELECT asked.tenant, o.endpoint_id, o.event_type, decode(o.payload, 'base64'), 'pending',
           0, asked.now, asked.now
      FROM moved JOIN asked ON asked.n = moved.n,
           jsonb_to_recordset(asked.outbox) AS o(n int, endpoint_id uuid, event_type text,
                                                 payload text)
     ORDER BY asked.n, o.n
)
SELECT * FROM moved
"""


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where each record's columns sit in a row of the read (worked out once)."""

    voucher: list[tuple[str, int]]
    voucher_type: list[tuple[str, int]]
    lifecycle: list[tuple[str, int]]
    subscriber: list[tuple[str, int]]
    index: dict[str, int]

    @classmethod
    def of(cls, names: list[str]) -> _Shape:
        def group(prefix: str) -> list[tuple[str, int]]:
            return [(n[len(prefix) :], i) for i, n in enumerate(names) if n.startswith(prefix)]

        plain = [(n, i) for i, n in enumerate(names) if n in t.vouchers.c]
        return cls(
            plain, group("vt_"), group("lc_"), group("sb_"), {n: i for i, n in enumerate(names)}
        )


def _pick(row: tuple[Any, ...], columns: list[tuple[str, int]]) -> dict[str, Any]:
    return {name: row[i] for name, i in columns}


_shapes: dict[str, _Shape] = {}  # by read statement


@dataclass(frozen=True, slots=True)
class _Statement:
    sql: str
    names: tuple[str, ...]

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


_WRITE = _Statement(*_positional(_WRITE_SQL))


@dataclass(frozen=True, slots=True)
class _Read:
    tenant_id: uuid.UUID
    code_hash: bytes
    scopes: tuple[str | None, str | None]  # the caller's bar scopes (at most two)
    external_id: str
    marketplace: bool = False  # also among the types shared with the caller's tenant


def _fulfilment(
    request_id: uuid.UUID, offer: str, action: str, parameters: dict[str, str]
) -> dict[str, Any]:
    """The request as ``asked.fulfilment``; no parameters, no key (the column stays NULL)."""
    found: dict[str, Any] = {"id": str(request_id), "offer": offer, "action": action}
    if parameters:
        found["parameters"] = parameters
    return found


@dataclass(frozen=True, slots=True)
class UseWrite:
    """One decided use, as the write statement takes it (``services/redemption/ledger.py``
    builds it from the decision)."""

    tenant_id: uuid.UUID
    voucher: Voucher
    expected: VoucherStatus
    new: VoucherStatus
    now: datetime
    subscriber: Subscriber
    new_subscriber: bool
    buckets: Sequence[BucketGrant]
    # the request's id, offer, action and parameters (None when there are none)
    fulfilment: tuple[uuid.UUID, str, str, dict[str, str]] | None
    edrs: Sequence[EdrDraft]
    outbox: Sequence[tuple[uuid.UUID, str, bytes]]  # endpoint id, event type, sealed payload
    actor_key_id: uuid.UUID | None
    issuer_id: uuid.UUID | None = None  # a marketplace use: the voucher's tenant
    issuer_edrs: Sequence[EdrDraft] = ()  # its side of the use, in its records

    def asked(self, n: int) -> dict[str, Any]:
        """This redemption as a row of the write's ``asked`` (one JSON document for all: a
        dozen arrays cost more to send)."""
        lapsed = (
            self.expected is VoucherStatus.AVAILABLE
            and self.voucher.status is VoucherStatus.RESERVED
        )
        return {
            "n": n,
            "tenant": str(self.tenant_id),
            "voucher_id": self.voucher.id,
            "expected": self.expected.value,
            "lapsed": lapsed,
            "new": self.new.value,
            "now": self.now.isoformat(),
            "subscriber_id": str(self.subscriber.id),
            "external_id": self.subscriber.external_id,
            "service_state": self.subscriber.service_state.value,
            "new_subscriber": self.new_subscriber,
            "actor": str(self.actor_key_id) if self.actor_key_id else None,
            "buckets": [
                {
                    "id": b.bucket_id,
                    "balance_type": b.balance_type,
                    "amount": b.amount,
                    "expires_at": b.expires_at.isoformat() if b.expires_at else None,
                }
                for b in self.buckets
            ],
            "edrs": [{"n": n, **draft_columns(d)} for n, d in enumerate(self.edrs)],
            "fulfilment": None if self.fulfilment is None else _fulfilment(*self.fulfilment),
            "outbox": [
                {
                    "n": n,
                    "endpoint_id": str(endpoint_id),
                    "event_type": event_type,
                    "payload": base64.b64encode(sealed).decode(),
                }
                for n, (endpoint_id, event_type, sealed) in enumerate(self.outbox)
            ],
            "issuer": None if self.issuer_id is None else str(self.issuer_id),
            "issuer_edrs": [{"n": n, **draft_columns(d)} for n, d in enumerate(self.issuer_edrs)],
        }


_UNKNOWN = object()  # a write whose connection broke after it was sent


class WriteRefused:
    """The statement was refused as a whole (rolled back): nothing of it was written."""


WRITE_REFUSED = WriteRefused()


Item = TypeVar("Item")
Result = TypeVar("Result")


class _Batches(Generic[Item, Result]):
    """Runs what arrives while a statement is in flight as the next statement.

    A request that finds none in flight goes at once (the task starts on the loop's next
    turn, with whatever else arrived in this one); the others wait for it to finish and go
    together, up to ``largest`` at a time. One statement of a kind in flight per worker: two
    made no difference above the bench's noise (bench/RESULTS-redeem.md), and one lets each
    kind keep one connection (``_Held``)."""

    def __init__(
        self, run: Callable[[list[Item]], Awaitable[list[Result]]], largest: int = 64
    ) -> None:
        self.run = run
        self.largest = largest
        self.waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self.draining: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if self.draining is None:
            self.draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch = self.waiting[: self.largest]
                del self.waiting[: self.largest]
                try:
                    results = await self.run([item for item, _ in batch])
                except Exception as exc:  # a bug, not a refusal: every waiter hears of it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():  # its request may have been cancelled
                        future.set_result(result)
        finally:
            self.draining = None


class QuickUses:
    """Reads and writes of any tenant, each scoped to its tenant in SQL; one per HTTP worker,
    opened on its event loop."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self.dialect = url.get_dialect()()
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.pool: Any = None  # an asyncpg pool (untyped library)
        self.read = _Statement("", ())
        self.market_read = _Statement("", ())
        self.reads = _Batches(self._read_all)
        self.writes = _Batches(self._write_all)
        self.readers = _Held(self)
        self.writers = _Held(self)

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=2,  # one held for reads, one for writes
            init=_json_codecs,
            reset=_nothing_to_reset,
            server_settings={
                "TimeZone": "UTC",  # timestamps in UTC, as the domain works
                # Planned once per connection: left to choose, PostgreSQL planned the read
                # afresh on every call (~0.5 ms of its CPU, more than running it), because
                # it cannot tell how many rows the unnest brings.
                "plan_cache_mode": "force_generic_plan",
            },
        )
        sequence = await self.pool.fetchval("SELECT pg_get_serial_sequence('buckets', 'id')")
        if sequence is None:
            raise RuntimeError("the buckets table has no id sequence: is the schema migrated?")
        self.read = _Statement(*_positional(_read_sql(self.dialect, str(sequence))))
        self.market_read = _Statement(*_positional(_read_sql(self.dialect, str(sequence), True)))

    async def close(self) -> None:
        if self.pool is not None:
            await self.readers.give_back()
            await self.writers.give_back()
            await self.pool.close()

    async def view(
        self,
        tenant_id: uuid.UUID,
        code_hash: bytes,
        scopes: Sequence[str],
        subscriber: str,
        *,
        marketplace: bool = False,
    ) -> QuickView | None:
        """The voucher of ``code_hash`` with what the rules need; None when there is none or
        the read failed (nothing was written: the slow path answers). ``marketplace``: the
        caller's tenant receives shared types, so look among them too (same round trip)."""
        first, second, *_rest = (*scopes, None, None)
        read = _Read(tenant_id, code_hash, (first, second), subscriber, marketplace)
        return await self.reads.submit(read)

    async def use(self, write: UseWrite) -> Voucher | WriteRefused | None:
        """The compare-and-set, the buckets, the fulfilment request, the EDRs and the outbox
        rows (and the subscriber when new) in one statement; None when the voucher is no
        longer ``expected`` or a new subscriber was created by another call meanwhile,
        ``WRITE_REFUSED`` when the statement was refused (either way nothing of this
        redemption was written)."""
        moved = await self.writes.submit(write)
        if moved is _UNKNOWN:
            raise OutcomeUnknown()
        return moved  # type: ignore[return-value]

    async def _read_all(self, reads: list[_Read]) -> list[QuickView | None]:
        """One statement for the callers' own codes, one for the callers that receive shared
        types (each only when some read of the batch needs it)."""
        found: list[QuickView | None] = [None] * len(reads)
        for marketplace, statement in ((False, self.read), (True, self.market_read)):
            places = [i for i, r in enumerate(reads) if r.marketplace is marketplace]
            if places:
                views = await self._read_some([reads[i] for i in places], statement)
                for i, view in zip(places, views, strict=True):
                    found[i] = view
        return found

    async def _read_some(self, reads: list[_Read], statement: _Statement) -> list[QuickView | None]:
        params = {
            "tenants": [r.tenant_id for r in reads],
            "keys": [r.code_hash for r in reads],
            "first_scopes": [r.scopes[0] for r in reads],
            "second_scopes": [r.scopes[1] for r in reads],
            "external_ids": [r.external_id for r in reads],
        }
        try:
            rows = await self.readers.fetch(statement.sql, *statement.args(params))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("quick read failed", error=repr(exc))  # nothing written: slow path
            return [None] * len(reads)
        found: list[QuickView | None] = [None] * len(reads)
        for row in rows:
            n = row["n"] - 1
            found[n] = _quick_view(row, statement.sql, reads[n].tenant_id)
        return found

    async def _write_all(self, writes: list[UseWrite]) -> list[Voucher | object | None]:
        asked = [w.asked(n) for n, w in enumerate(writes)]
        params = {"asked": asked, "voucher_ids": [w.voucher.id for w in writes]}
        try:
            rows = await self.writers.fetch(_WRITE.sql, *_WRITE.args(params))
        except asyncpg.PostgresError as exc:  # refused and rolled back as a whole
            log.warning("quick write refused", error=repr(exc), redemptions=len(writes))
            return [WRITE_REFUSED] * len(writes)
        except (asyncpg.InterfaceError, OSError) as exc:  # sent, but did it commit?
            log.warning("quick write unconfirmed", error=repr(exc), redemptions=len(writes))
            return [_UNKNOWN] * len(writes)
        moved: list[Voucher | object | None] = [None] * len(writes)
        for row in rows:
            moved[row["n"]] = _voucher(row)
        return moved


class _Held:
    """A pool connection kept for one kind of statement (one is in flight at a time): taking
    one from the pool per statement cost the worker ~0.1 ms (asyncpg shields each release in
    a task). A broken connection goes back to the pool, which replaces it."""

    def __init__(self, owner: QuickUses) -> None:
        self.owner = owner
        self.conn: Any = None

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if self.conn is not None and _closed(self.conn):  # the server ended it meanwhile
            await self.give_back()
        if self.conn is None:
            self.conn = await self.owner.pool.acquire()
        try:
            rows: list[Any] = await self.conn.fetch(sql, *args)
        except (asyncpg.InterfaceError, OSError):
            await self.give_back()
            raise
        return rows

    async def give_back(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.owner.pool.release(conn)


def _closed(conn: Any) -> bool:
    try:
        return bool(conn.is_closed())
    except asyncpg.InterfaceError:  # already detached from the pool
        return True


def _quick_view(row: Any, sql: str, caller: uuid.UUID) -> QuickView:
    shape = _shapes.get(sql)
    if shape is None:
        shape = _shapes.setdefault(sql, _Shape.of(list(row.keys())))
    at = shape.index
    view = VoucherView(
        voucher=_voucher(_pick(row, shape.voucher)),  # type: ignore[arg-type]
        voucher_type=_voucher_type(_pick(row, shape.voucher_type)),  # type: ignore[arg-type]
        lifecycle=_lifecycle(_pick(row, shape.lifecycle)),  # type: ignore[arg-type]
        barred_until=row[at["barred_until"]],
        subscriber=(
            _subscriber(_pick(row, shape.subscriber))  # type: ignore[arg-type]
            if row[at["sb_id"]] is not None
            else None
        ),
        shared=shared_use(row[at["tenant_id"]], caller),
    )
    subscribed, templates = row[at["webhooks"]] or ((), ())
    endpoints = [(uuid.UUID(i), types) for i, types in subscribed]
    templates = [(e, language, body) for e, language, body in templates or ()]
    return QuickView(view, list(row[at["bucket_ids"]]), endpoints, templates)


async def _json_codecs(conn: Any) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(_conn: Any) -> None:
    """Each statement here commits itself and none changes the session, so a connection goes
    back to the pool as it came: asyncpg's default reset (RESET ALL, UNLISTEN *, ...) would be
    one more round trip per redemption. An open transaction would still be rolled back."""
