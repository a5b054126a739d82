"""Settings, read from the environment with the prefix ``TESSERA_``."""

from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./tessera.db",
        description="SQLAlchemy URL: sqlite:///PATH (embedded default) or postgresql+psycopg://...",
    )
    host: str = Field(default="127.0.0.1", description="Address `tessera serve` listens on.")
    port: int = Field(default=8000, description="Port `tessera serve` listens on.")
    workers: int = Field(
        default=1, ge=1, description="HTTP worker processes (gunicorn) for `tessera serve`."
    )
    worker_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A worker that does not report to gunicorn's arbiter for this long (a "
        "stuck event loop) is killed and replaced.",
    )
    db_pool_size: int = Field(
        default=10,
        description="PostgreSQL connections per process; an HTTP worker holds up to twice as "
        "many (this pool and the quick-redemption pool).",
    )
    log_level: str = Field(
        default="info",
        description="Log level of every process: debug, info, warning, error, critical "
        "(any case). Lines said once per event or per request are debug.",
    )
    log_json: bool = Field(default=False, description="Write logs as JSON lines instead of text.")
    code_secret: SecretStr | None = Field(
        default=None,
        description="Server secret for the keyed hash (HMAC-SHA256) of voucher codes. Required.",
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", description="NATS for `tessera consume`."
    )
    print_dir: str = Field(
        default="./print-files",
        description="Directory for batch print files (plain codes, 0600) until downloaded once.",
    )
    batch_chunk_size: int | None = Field(
        default=None,
        description="Vouchers generated, stored and committed per step (default: per store).",
    )
    batch_heartbeat_timeout_seconds: int = Field(
        default=300,
        description="A generating batch whose worker has not reported for this long is failed.",
    )
    page_size_max: int = Field(default=500, description="Largest page a list endpoint returns.")
    list_key: SecretStr | None = Field(
        default=None,
        description="AES-GCM key sealing partner codes, webhook secrets and queued notifications:"
        " base64 of 32 random bytes (`python -c 'import base64,os;"
        " print(base64.b64encode(os.urandom(32)).decode())'`). Required for lists and webhooks.",
    )
    dispatcher_enabled: bool = Field(
        default=True,
        description="Deliver webhooks from `tessera worker` (and, on SQLite, inside `serve`).",
    )
    dispatch_interval_seconds: float = Field(
        default=1.0, description="How often the dispatcher looks for due notifications."
    )
    dispatch_batch: int = Field(default=50, description="Notifications claimed per round.")
    webhook_timeout_seconds: float = Field(default=5.0, description="Per delivery attempt.")
    webhook_max_attempts: int = Field(
        default=8, description="Attempts before a notification goes to the dead letters."
    )
    webhook_backoff_seconds: float = Field(
        default=10.0, description="Wait after the first failure; doubled after each next one."
    )
    webhook_backoff_max_seconds: float = Field(
        default=3600.0, description="Longest wait between two attempts."
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs (e.g. `10.20.0.0/16,192.168.5.7/32`) that webhooks may"
        " reach although they are not public, plain http included; by default only public"
        " addresses over https.",
    )
    campaign_pause_after_failures: int = Field(
        default=100,
        ge=0,
        description="A campaign whose condition fails this many times in a row while running "
        "(no successful evaluation between) pauses itself and notifies the tenant "
        "(`campaign.paused`); 0: never.",
    )
    # Redemption (issue 4)
    bar_threshold: int = Field(
        default=5, ge=1, description="Wrong codes from one subscriber or key before a bar."
    )
    bar_key_threshold: int = Field(
        default=50,
        ge=1,
        description="Wrong codes from one API key (a till serves many subscribers) before the "
        "key itself is barred.",
    )
    bar_window_seconds: int = Field(
        default=900, ge=1, description="The window in which wrong codes are counted."
    )
    bar_period_seconds: int = Field(
        default=1800, ge=1, description="How long a bar lasts once set."
    )
    sweeper_interval_seconds: int = Field(
        default=60,
        ge=0,
        description="How often the worker expires vouchers and releases lapsed holds (0: never).",
    )
    fulfilment_timeout_seconds: int = Field(
        default=3600,
        ge=0,
        description="A fulfilment request still pending this long times out (an activation "
        "gives the voucher back); checked by the worker's sweep (0: never).",
    )
    # Background work (`tessera worker`; on SQLite also inside `serve`)
    lease_seconds: float = Field(
        default=30.0,
        ge=1,
        description="A worker holds each background job this long, renewing every third of it;"
        " another worker takes the job over once a dead holder's lease lapses.",
    )
    batch_recovery_interval_seconds: int = Field(
        default=60,
        ge=0,
        description="How often the worker fails batches whose generating process died (0: never).",
    )
    purge_interval_seconds: int = Field(
        default=3600,
        ge=0,
        description="How often the worker purges what is past retention (0: never).",
    )
    seal_interval_seconds: int = Field(
        default=30,
        ge=0,
        description="How often the worker seals new EDRs into hash-chained blocks (0: never).",
    )
    seal_block_size: int = Field(
        default=5000, ge=1, le=100_000, description="EDRs at most in one sealed block."
    )
    purge_batch: int = Field(
        default=5000, ge=1, le=100_000, description="Rows the purge deletes per statement."
    )
    idempotency_retention_hours: int = Field(
        default=48, ge=1, description="How long idempotency keys (stored answers) are kept."
    )
    event_retention_days: int = Field(
        default=90,
        ge=1,
        description="How long events are kept (a resent event id older than this counts again;"
        " a campaign simulation sees only events this recent).",
    )
    aggregate_retention_days: int = Field(
        default=400,
        ge=367,
        description="How long day and month windows of aggregates and of per-subscriber caps"
        " are kept (at least 367: the longest rolling window is 366 days).",
    )
    notification_retention_days: int = Field(
        default=30,
        ge=1,
        description="How long delivered notifications and their attempts are kept.",
    )
    failed_attempt_retention_hours: int = Field(
        default=24,
        ge=0,
        description="How long a wrong-code count is kept once its window and bar are over.",
    )
    bucket_retention_days: int = Field(
        default=90,
        ge=1,
        description="How long wallet buckets spent to zero (since made) or expired (since expiry)"
        " are kept; a redemption whose credit is gone can no longer be reversed.",
    )
    worker_metrics_port: int | None = Field(
        default=None, description="Port where `tessera worker` serves /metrics (none: not served)."
    )
    key_cache_seconds: float = Field(
        default=0.0,
        ge=0,
        description="How long a resolved API key is cached per process (0: no cache); "
        "a revoked key may keep working this long. 5 saves a round trip per request.",
    )
    console_session_minutes: int = Field(
        default=480,
        ge=1,
        le=7 * 24 * 60,
        description="How long a console sign-in lasts; revoking its key ends it at once.",
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in ("debug", "info", "warning", "error", "critical"):
            raise ValueError("must be one of debug, info, warning, error, critical")
        return level

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not a network (CIDR such as 10.0.0.0/8)") from None
        return value

    @property
    def allowed_webhook_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        parts = (part.strip() for part in self.webhook_allowed_networks.split(","))
        return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
