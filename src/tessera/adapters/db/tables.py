"""Every table, in one place. Each tenant-owned table carries ``tenant_id``; the repositories
in ``repositories.py`` add it to every statement, so no caller can forget it.

The Alembic history in ``migrations/`` creates exactly these tables (a test checks it).
"""

from __future__ import annotations

import sqlalchemy as sa

from tessera.adapters.db.types import JSONDocument, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Conditions of partial indexes on vouchers; a query that means to use one says it verbatim
# (SQLite, and PostgreSQL's generic plans, match a partial index only so).
RESERVED_ONLY = "status = 'reserved'"
HAS_SUBSCRIBER = "subscriber_id IS NOT NULL"
LATER_STATUS = "status NOT IN ('pending', 'available')"
UNBATCHED = "batch_id IS NULL"
# Rewards no closed settlement statement counted yet (the open period's).
UNSETTLED = "funding_partner IS NOT NULL AND granted_in IS NULL"
REVERSAL_UNSETTLED = "funding_partner IS NOT NULL AND status = 'reversed' AND reversal_in IS NULL"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only


def _tenant_fk() -> sa.Column[object]:
    return sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False)


# A tenant group is a host operator (the MVNE) and its brands: a brand names its host; a host
# names none (one level). A suspended tenant's keys are refused (services/tenants.authenticate).
tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("host_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=True),
    sa.Column("suspended_at", UTCDateTime, nullable=True),
    sa.Index(None, "host_id", "id", postgresql_where=sa.text("host_id IS NOT NULL")),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("display_prefix", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    # The voucher lists a partner key is bound to (ids as text); null for every other role.
    sa.Column("list_ids", JSONDocument, nullable=True),
)

# A console sign-in: only the SHA-256 of the session token is kept. A session is valid while
# it has not expired and its key is not revoked (the lookup joins api_keys), so revoking a key
# ends its sessions with no second write.
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    _tenant_fk(),
    sa.Column("key_id", sa.Uuid, sa.ForeignKey("api_keys.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index(None, "expires_at"),
)
lifecycles = sa.Table(
    "lifecycles",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("validity_kind", sa.String(20), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("validity_days", sa.Integer, nullable=True),
    sa.Column("grace_days", sa.Integer, nullable=False),
    sa.Column("reservation_hold_seconds", sa.Integer, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

voucher_types = sa.Table(
    "voucher_types",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("cost_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("buckets", JSONDocument, nullable=False),
    sa.Column("lifecycle_id", sa.Uuid, sa.ForeignKey("lifecycles.id"), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("fulfilment_offer", sa.String(200), nullable=True),
    sa.Column("fulfilment_parameters", JSONDocument, nullable=True),  # names a use may send
    sa.Column("purchase_value", JSONDocument, nullable=True),  # worth money at a point of sale
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

# A marketplace voucher type: its owner (``tenant_id``) lets a brand of its group validate and
# redeem the type's codes. Looked up by the redeeming brand (``brand_id``) with the code.
voucher_type_shares = sa.Table(
    "voucher_type_shares",
    metadata,
    _tenant_fk(),
    sa.Column("voucher_type_id", sa.Uuid, sa.ForeignKey("voucher_types.id"), nullable=False),
    sa.Column("brand_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("voucher_type_id", "brand_id"),
    sa.Index(None, "brand_id", "tenant_id", "voucher_type_id"),
)

subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("external_id", sa.String(64), nullable=False),
    sa.Column("attributes", JSONDocument, nullable=False),
    sa.Column("service_state", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "external_id"),
)

buckets = sa.Table(
    "buckets",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column("subscriber_id", sa.Uuid, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("balance_type", sa.String(40), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    sa.Index(None, "subscriber_id", "balance_type"),
)

edrs = sa.Table(
    "edrs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("actor_key_id", sa.Uuid, nullable=True),
    sa.Column("operation", sa.String(40), nullable=False),
    sa.Column("subject_type", sa.String(40), nullable=False),
    sa.Column("subject_id", sa.String(80), nullable=False),
    sa.Column("status_before", sa.String(20), nullable=True),
    sa.Column("status_after", sa.String(20), nullable=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("details", JSONDocument, nullable=False),
    # The subscriber the record is about (domain/edr.py subscriber_of), for a subscriber's
    # history; only the records that name one are in its index.
    sa.Column("subscriber", sa.String(80), nullable=True),
    sa.Index(None, "tenant_id", "id"),
    sa.Index(None, "tenant_id", "operation", "id"),
    sa.Index(None, "tenant_id", "subject_type", "subject_id", "id"),
    sa.Index(None, "tenant_id", "occurred_at"),
    sa.Index(
        None,
        "tenant_id",
        "subscriber",
        "id",
        sqlite_where=sa.text("subscriber IS NOT NULL"),
        postgresql_where=sa.text("subscriber IS NOT NULL"),
    ),
)

# Sealed blocks of EDRs (domain/edr_seal.py), written by the worker's ``seal`` job after the
# records commit: each covers one tenant's EDRs with after_id < id <= last_id and chains to the
# tenant's previous block by hash.
edr_blocks = sa.Table(
    "edr_blocks",
    metadata,
    _tenant_fk(),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("after_id", sa.BigInteger, nullable=False),
    sa.Column("last_id", sa.BigInteger, nullable=False),
    sa.Column("entries", sa.LargeBinary, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("sealed_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "seq"),
)

# The revenue ledger's moves (domain/revenue.py), one row per ``revenue.*`` EDR: filled by a
# trigger on ``edrs`` from the EDR itself (migration 0019), so every writer of the EDR, the
# batched redemption statement too, writes it in the same statement. Read by the reports.
revenue_movements = sa.Table(
    "revenue_movements",
    metadata,
    sa.Column("edr_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("effective_at", UTCDateTime, nullable=False),
    sa.Column("movement", sa.String(24), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("voucher_type_id", sa.Uuid, nullable=False),
    sa.Column("batch_id", sa.Uuid, nullable=True),
    sa.Column("vouchers", sa.BigInteger, nullable=False),
    sa.Index(None, "tenant_id", "effective_at"),
)

# --- Vouchers and batches ----------------------------------------------------------------
# A voucher's code is never stored: only its keyed hash (HMAC-SHA256, 32 bytes) and its last
# four characters for support screens. Expiry is not stored either: it follows from the
# voucher's lifecycle as it is now (editing a lifecycle changes all its vouchers).

serial_counters = sa.Table(
    "serial_counters",
    metadata,
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("next_serial", sa.BigInteger, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("voucher_type_id", sa.Uuid, sa.ForeignKey("voucher_types.id"), nullable=False),
    sa.Column("lifecycle_id", sa.Uuid, sa.ForeignKey("lifecycles.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("requested", sa.Integer, nullable=False),
    sa.Column("generated", sa.Integer, nullable=False),
    sa.Column("code_format", JSONDocument, nullable=False),
    sa.Column("serial_first", sa.BigInteger, nullable=True),
    sa.Column("serial_last", sa.BigInteger, nullable=True),
    sa.Column("print_file", sa.String(500), nullable=True),
    sa.Column("print_file_sha256", sa.String(64), nullable=True),
    sa.Column("print_file_fetched_at", UTCDateTime, nullable=True),
    sa.Column("include_cost", sa.Boolean, nullable=False),
    sa.Column("error", sa.String(500), nullable=True),
    # Who generates it: a batch stuck in "generating" whose process is gone is failed by the
    # worker's batch recovery (same host: the pid is checked; any host: updated_at is a heartbeat).
    sa.Column("worker_pid", sa.Integer, nullable=True),
    sa.Column("worker_host", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "state"),
)

# Vouchers are written a million at a time, and on PostgreSQL each foreign key costs a
# lookup per row (a 1M batch took 35 s with them, about a third of that without). So the
# columns that every row of a batch shares (tenant, type, lifecycle, batch) carry no foreign
# key: the two writers (batch generation and single issue) read that type, lifecycle and
# batch within the same tenant and transaction first, and none of those rows is ever deleted.
vouchers = sa.Table(
    "vouchers",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("serial", sa.BigInteger, nullable=False),
    sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("code_last4", sa.String(4), nullable=False),
    sa.Column("voucher_type_id", sa.Uuid, nullable=False),
    sa.Column("lifecycle_id", sa.Uuid, nullable=False),
    sa.Column("batch_id", sa.Uuid, nullable=True),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("activated_at", UTCDateTime, nullable=True),
    sa.Column("reserved_until", UTCDateTime, nullable=True),
    sa.Column("status_changed_at", UTCDateTime, nullable=False),
    sa.Column("subscriber_id", sa.Uuid, sa.ForeignKey("subscribers.id"), nullable=True),
    sa.Column("replaces_id", BigId, sa.ForeignKey("vouchers.id"), nullable=True),
    # How much of a stored value has been spent; NULL: none (every other voucher). Changed
    # only by compare-and-set (repositories/vouchers.py transition).
    sa.Column("value_spent_minor", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("tenant_id", "code_hash"),
    sa.UniqueConstraint("tenant_id", "serial"),
    sa.Index(None, "batch_id", "serial"),
    # Deleting a voucher checks that no voucher replaces it; without this index that check
    # scans the table once per deleted row (a failed batch of 1M rows never finished).
    # Partial: only reissued vouchers have it, so generation pays nothing for it.
    sa.Index(
        None,
        "replaces_id",
        sqlite_where=sa.text("replaces_id IS NOT NULL"),
        postgresql_where=sa.text("replaces_id IS NOT NULL"),
    ),
)

# --- Partner voucher lists and notifications ---------------------------------------------
# A partner code is kept sealed (AES-GCM, nonce + ciphertext + tag, bound to its list id) with
# a keyed hash for uniqueness within its list and for lookups. The list row carries the
# utilization counters and the low-stock "armed" flag, changed in the same transaction as the
# codes, so reading utilization is one row. The outbox (``notifications``) holds one row per
# event and webhook endpoint, its payload sealed too since it carries the code.

voucher_lists = sa.Table(
    "voucher_lists",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("partner", sa.String(200), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("low_stock_percent", sa.Integer, nullable=False),
    sa.Column("ends_at", UTCDateTime, nullable=True),
    sa.Column("uploaded", sa.BigInteger, nullable=False),
    sa.Column("issued", sa.BigInteger, nullable=False),
    sa.Column("redeemed", sa.BigInteger, nullable=False),
    sa.Column("low_stock_armed", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A distribution gives a subscriber at most this many codes of the list.
    sa.Column("codes_per_subscriber", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.UniqueConstraint("tenant_id", "name"),
)

list_uploads = sa.Table(
    "list_uploads",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("list_id", sa.Uuid, sa.ForeignKey("voucher_lists.id"), nullable=False),
    sa.Column("filename", sa.String(300), nullable=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("duplicates_in_file", sa.Integer, nullable=False),
    sa.Column("duplicates_in_list", sa.Integer, nullable=False),
    sa.Column("invalid", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "list_id", "created_at"),
)

# list_codes is bulk-loaded a million rows at a time, and on PostgreSQL every foreign key is
# a per-row trigger: tenant_id and upload_id carry none (measured: the insert took twice as
# long with them). Both follow from the list, which does: the repository writes codes only
# into a list it just read for the same tenant, and neither lists nor uploads are deleted.
list_codes = sa.Table(
    "list_codes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("list_id", sa.Uuid, sa.ForeignKey("voucher_lists.id"), nullable=False),
    sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("code_sealed", sa.LargeBinary, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("subscriber_id", sa.Uuid, sa.ForeignKey("subscribers.id"), nullable=True),
    sa.Column("issued_at", UTCDateTime, nullable=True),
    sa.Column("redeemed_at", UTCDateTime, nullable=True),
    sa.Column("upload_id", sa.Uuid, nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.UniqueConstraint("list_id", "code_hash"),
    # The next code to give, oldest upload first (UUIDv7) then file order. Only available
    # codes are in it, so a list that handed out most of its codes is not walked past them,
    # and no other index gives this order, so the planner cannot prefer walking the primary
    # key instead. Queries name the state as a literal to match the index's condition.
    sa.Index(
        "ix_list_codes_available",
        "list_id",
        "upload_id",
        "line",
        postgresql_where=sa.text("state = 'available'"),
        sqlite_where=sa.text("state = 'available'"),
    ),
    # The codes given to a subscriber (the one already given, for one at the cap); a code
    # not given yet is not in it, so a bulk upload pays nothing for it.
    sa.Index(
        "ix_list_codes_subscriber",
        "list_id",
        "subscriber_id",
        "id",
        postgresql_where=sa.text("subscriber_id IS NOT NULL"),
        sqlite_where=sa.text("subscriber_id IS NOT NULL"),
    ),
)

# A list's issued figure is its row's ``issued`` plus these slots. A distribution on
# PostgreSQL adds its 1 to one of ``ISSUED_SLOTS`` rows picked at random instead of to the
# list's row: every distribution from a list updating one row queued them all on its lock,
# held until the commit's WAL flush (measured: ~500 /s whatever else was done).
list_issued_slots = sa.Table(
    "list_issued_slots",
    metadata,
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("list_id", sa.Uuid, sa.ForeignKey("voucher_lists.id"), primary_key=True),
    sa.Column("slot", sa.SmallInteger, primary_key=True),
    sa.Column("issued", sa.BigInteger, nullable=False),
)

# How many codes of a list distributions gave each subscriber: the one row that settles the
# cap. Claimed by ``INSERT ... ON CONFLICT DO UPDATE ... WHERE codes < cap``, so concurrent
# distributions to one subscriber queue on it and the second sees the first's count.
list_holdings = sa.Table(
    "list_holdings",
    metadata,
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("list_id", sa.Uuid, sa.ForeignKey("voucher_lists.id"), primary_key=True),
    sa.Column("subscriber_id", sa.Uuid, primary_key=True),
    sa.Column("codes", sa.Integer, nullable=False),
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("event_types", JSONDocument, nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

message_templates = sa.Table(
    "message_templates",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("language", sa.String(20), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "event_type", "language"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column("endpoint_id", sa.Uuid, sa.ForeignKey("webhook_endpoints.id"), nullable=False),
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("payload_sealed", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Index(None, "status", "next_attempt_at"),  # the dispatcher's claim
    sa.Index(None, "tenant_id", "status", "id"),  # an operator's dead letters
)

notification_attempts = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    sa.Column("notification_id", BigId, sa.ForeignKey("notifications.id"), nullable=False),
    sa.Column("attempted_at", UTCDateTime, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Index(None, "notification_id", "id"),
)

# --- Redemption (issue 4) -----------------------------------------------------------------
# The stored answer of each state-changing call made with an Idempotency-Key: written in the
# same transaction as the change, so a retry can only ever see the first answer.

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    _tenant_fk(),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("request_fingerprint", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("response", JSONDocument, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "key"),
    sa.Index(None, "created_at"),
)

# Wrong codes per scope ("key:<id>" or "subscriber:<external id>") within a window, and the
# bar they lead to. One upsert per failure keeps the count exact under concurrency.
failed_attempts = sa.Table(
    "failed_attempts",
    metadata,
    _tenant_fk(),
    sa.Column("scope", sa.String(100), nullable=False),
    sa.Column("window_started_at", UTCDateTime, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("barred_until", UTCDateTime, nullable=True),
    sa.PrimaryKeyConstraint("tenant_id", "scope"),
)

# Redemptions of a type with a fulfilment offer ask the tenant's order system to activate
# (or, on reversal, revoke) the offer. Delivery comes with the notifications outbox.
fulfilment_requests = sa.Table(
    "fulfilment_requests",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("voucher_id", BigId, nullable=False),  # no FK: purging vouchers keeps these
    sa.Column("serial", sa.BigInteger, nullable=False),
    sa.Column("subscriber_id", sa.Uuid, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("offer", sa.String(200), nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("parameters", JSONDocument, nullable=True),  # sent with the redemption
    sa.Column("settled_at", UTCDateTime, nullable=True),  # completed, failed or timed out
    sa.Column("reason", sa.String(200), nullable=True),  # why it failed
    sa.Index(None, "tenant_id", "status", "created_at"),
    sa.Index(None, "status", "created_at"),  # the time-out sweep, over every tenant
)

# The expiry sweeper and purge walk one lifecycle at a time; lapsed holds are found by time
# among the reserved vouchers only (the query names the status as a literal to match).
sa.Index(None, vouchers.c.lifecycle_id, vouchers.c.status, vouchers.c.status_changed_at)
sa.Index(
    "ix_vouchers_reserved_until",
    vouchers.c.tenant_id,
    vouchers.c.reserved_until,
    sqlite_where=sa.text(RESERVED_ONLY),
    postgresql_where=sa.text(RESERVED_ONLY),
)

# Customer care's lookups (GET /v1/vouchers), each in serial order. Every full index on
# vouchers costs about 2 s of a 1M batch on PostgreSQL (measured: 17.5 s with none of these,
# 23.9 s with last4, status and type as full indexes), so only the last four characters get
# one; the others hold only rows that generating a batch never writes: vouchers that reached
# a subscriber; vouchers past pending and available (the queries repeat the condition as a
# literal); and vouchers outside any batch, of one type (a batch's are read through
# ix_vouchers_batch_id_serial, one batch of the type at a time).
sa.Index(
    "ix_vouchers_by_subscriber",
    vouchers.c.tenant_id,
    vouchers.c.subscriber_id,
    vouchers.c.serial,
    sqlite_where=sa.text(HAS_SUBSCRIBER),
    postgresql_where=sa.text(HAS_SUBSCRIBER),
)
sa.Index(None, vouchers.c.tenant_id, vouchers.c.code_last4, vouchers.c.serial)
sa.Index(
    "ix_vouchers_by_later_status",
    vouchers.c.tenant_id,
    vouchers.c.status,
    vouchers.c.serial,
    sqlite_where=sa.text(LATER_STATUS),
    postgresql_where=sa.text(LATER_STATUS),
)
sa.Index(
    "ix_vouchers_unbatched_by_type",
    vouchers.c.tenant_id,
    vouchers.c.voucher_type_id,
    vouchers.c.serial,
    sqlite_where=sa.text(UNBATCHED),
    postgresql_where=sa.text(UNBATCHED),
)

# --- Rewards engine: events, aggregates, campaigns, rewards -------------------------------
# Cap and budget counters are rows updated with conditional upserts (``... WHERE n < cap``),
# so concurrent events can never over-issue.

# Events and aggregate values are written a row per event, 1,000 per batch; on PostgreSQL a
# tenant foreign key cost a lookup (and a share lock on the tenant row) per row: half the
# insert's server time (bench/RESULTS-events.md). Their tenant is the authenticated caller's,
# and tenants are never deleted.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("subscriber", sa.String(64), nullable=False),
    sa.Column("type", sa.String(60), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("attributes", JSONDocument, nullable=False),
    sa.UniqueConstraint("tenant_id", "event_id"),
    sa.Index(None, "tenant_id", "occurred_at"),
)

aggregate_definitions = sa.Table(
    "aggregate_definitions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("event_type", sa.String(60), nullable=False),
    sa.Column("function", sa.String(10), nullable=False),
    sa.Column("window", sa.String(20), nullable=False),
    sa.Column("attribute", sa.String(60), nullable=True),
    sa.Column("days", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

aggregate_values = sa.Table(
    "aggregate_values",
    metadata,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("subscriber", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("bucket", sa.String(10), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("trigger_types", JSONDocument, nullable=False),
    sa.Column("condition", sa.Text, nullable=False),
    sa.Column("rewards", JSONDocument, nullable=False),
    sa.Column("caps", JSONDocument, nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=True),
    sa.Column("ends_at", UTCDateTime, nullable=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("funding_partner", sa.String(200), nullable=True),
    sa.Column("cost_per_reward_minor", sa.BigInteger, nullable=False),
    # Cap counters, kept (and locked) only for campaigns with a total cap or budget; the
    # campaign's figures are counted from its rewards.
    sa.Column("rewards_issued", sa.BigInteger, nullable=False),
    sa.Column("budget_spent_minor", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "name"),
)

# Conditions that failed while running (a missing key, a wrong type, a division by zero),
# per campaign: kept apart from ``campaigns`` so that counting a failure never waits on the
# cap counters' row lock, and written last in a batch (in campaign order), after every other
# lock the batch takes. A campaign paused for failing locks its campaign row, then this one.
campaign_condition_failures = sa.Table(
    "campaign_condition_failures",
    metadata,
    sa.Column("campaign_id", sa.Uuid, sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("last_message", sa.String(200), nullable=False),
    sa.Column("last_at", UTCDateTime, nullable=False),
    # Failures since the last successful evaluation (see services/rewards_engine.py): read
    # with every batch through the partial index, which holds only the campaigns failing now.
    sa.Column("streak", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Index(
        None,
        "tenant_id",
        sqlite_where=sa.text("streak > 0"),
        postgresql_where=sa.text("streak > 0"),
    ),
)

campaign_subscriber_counts = sa.Table(
    "campaign_subscriber_counts",
    metadata,
    sa.Column("campaign_id", sa.Uuid, sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("subscriber", sa.String(64), primary_key=True),
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

rewards = sa.Table(
    "rewards",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    _tenant_fk(),
    sa.Column("campaign_id", sa.Uuid, sa.ForeignKey("campaigns.id"), nullable=False),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("subscriber", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("details", JSONDocument, nullable=False),
    sa.Column("funding_partner", sa.String(200), nullable=True),
    sa.Column("cost_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("rewarded_at", UTCDateTime, nullable=False),
    sa.Column("reversed_at", UTCDateTime, nullable=True),
    sa.Index(None, "tenant_id", "funding_partner", "rewarded_at"),
    sa.Index(None, "tenant_id", "event_id"),
    # GET /v1/rewards: by subscriber, by campaign, or all, in (rewarded_at, id) order.
    sa.Index(None, "tenant_id", "subscriber", "rewarded_at", "id"),
    sa.Index(None, "tenant_id", "campaign_id", "rewarded_at", "id"),
    sa.Index(None, "tenant_id", "rewarded_at", "id"),
    # The settlement statement that counted the reward (a closed period's seq; None: the open
    # period), and the one that counted its reversal. The open statement reads what no closed
    # one took, through these partial indexes.
    sa.Column("granted_in", sa.BigInteger, nullable=True),
    sa.Column("reversal_in", sa.BigInteger, nullable=True),
    sa.Index(
        "ix_rewards_unsettled",
        "tenant_id",
        "rewarded_at",
        postgresql_where=sa.text(UNSETTLED),
        sqlite_where=sa.text(UNSETTLED),
    ),
    sa.Index(
        "ix_rewards_reversal_unsettled",
        "tenant_id",
        "reversed_at",
        postgresql_where=sa.text(REVERSAL_UNSETTLED),
        sqlite_where=sa.text(REVERSAL_UNSETTLED),
    ),
)

# A closed settlement period ([starts_at, ends_at); the first starts at the beginning) and
# its statement, one line per partner and currency, written once when it is closed and never
# changed. Closes follow each other: seq n+1 starts where n ended, and two closes at once
# both claim the same seq, so one fails on the primary key.
settlement_periods = sa.Table(
    "settlement_periods",
    metadata,
    _tenant_fk(),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("starts_at", UTCDateTime, nullable=True),
    sa.Column("ends_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=False),
    sa.Column("closed_by", sa.Uuid, nullable=True),
    sa.PrimaryKeyConstraint("tenant_id", "seq"),
)

settlement_lines = sa.Table(
    "settlement_lines",
    metadata,
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("partner", sa.String(200), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("events", sa.BigInteger, nullable=False),
    sa.Column("rewards", sa.BigInteger, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("events_reversed", sa.BigInteger, nullable=False),
    sa.Column("reversed", sa.BigInteger, nullable=False),
    sa.Column("reversed_minor", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "seq", "partner", "currency"),
    sa.ForeignKeyConstraint(
        ["tenant_id", "seq"], ["settlement_periods.tenant_id", "settlement_periods.seq"]
    ),
)

# --- Background work (issue 12) -----------------------------------------------------------
# One row per background job (expire, dispatch, purge, ...): the worker process that may run
# it until ``expires_at``. Taken and renewed by one conditional upsert, so two workers never
# hold one job; a holder that dies stops renewing and its lease lapses to the next taker.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(60), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)
