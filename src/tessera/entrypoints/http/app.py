"""The app factory: nothing connects to a database until ``create_app`` is called."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI

from tessera import __version__
from tessera.bootstrap import Container, build
from tessera.entrypoints.http import (
    batches,
    campaigns,
    distributions,
    docs,
    edrs,
    events,
    health,
    keys,
    lifecycles,
    notifications,
    problems,
    subscribers,
    templates,
    voucher_lists,
    voucher_types,
    vouchers,
    webhooks,
)
from tessera.entrypoints.http.background import BackgroundWork
from tessera.entrypoints.http.metrics import Metrics, MetricsMiddleware
from tessera.entrypoints.http.point_of_sale import PointOfSale
from tessera.entrypoints.http.request_context import RequestContext
from tessera.services.batches import fail_abandoned_batches

# Routes are matched in this order: the point of sale and the event feed come first.
ROUTERS = (
    vouchers,
    events,
    health,
    keys,
    lifecycles,
    voucher_types,
    subscribers,
    edrs,
    voucher_lists,
    distributions,
    webhooks,
    notifications,
    templates,
    batches,
    campaigns,
)

log = structlog.get_logger(__name__)


def recover(container: Container) -> None:
    """Fails batches whose generating process died (run at start, by the API and the CLI)."""
    timeout = timedelta(seconds=container.settings.batch_heartbeat_timeout_seconds)
    fail_abandoned_batches(container.directory(), container.uow, timeout)


def _lifespan(sweeper: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """At start: fail batches whose generation died; while serving: background batch
    generation and, with ``sweeper`` (``serve`` does; tests don't), the expiry sweeper and
    the webhook dispatcher (in every worker: both are safe to run several times over)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container: Container = app.state.container
        recover(container)
        await container.open_quick_uses()
        # Everything loaded so far (modules, routes, models) lives as long as the process:
        # moved out of the collector's reach, a full collection no longer walks it (it took
        # ~110 ms on a worker, the whole p99 budget of an event batch; now ~10 ms).
        gc.freeze()
        app.state.background = BackgroundWork()
        stop = threading.Event()
        interval = container.settings.sweeper_interval_seconds
        thread = None
        if sweeper and interval > 0:
            thread = threading.Thread(
                target=_sweep_forever, args=(container, interval, stop), daemon=True
            )
            thread.start()
        stop_dispatcher = _start_dispatcher(container) if sweeper else None
        try:
            yield
        finally:
            if stop_dispatcher is not None:
                stop_dispatcher()
            stop.set()
            if thread is not None:
                thread.join(timeout=5)
            app.state.background.shutdown()  # let running generations finish
            await container.close_quick_uses()

    return lifespan


def _start_dispatcher(container: Container) -> Callable[[], None] | None:
    from tessera.services.dispatch import start_dispatcher

    if not container.settings.dispatcher_enabled:
        return None
    if container.sealer is None:
        log.warning("TESSERA_LIST_KEY is not set: webhooks will not be delivered")
        return None
    return start_dispatcher(container)


def _sweep_forever(container: Container, interval: float, stop: threading.Event) -> None:
    """Expires vouchers and releases lapsed holds every ``interval`` seconds. With several
    workers each sweeps; the sweeps are compare-and-set, so none expires a voucher twice."""
    from tessera.services.expiry import expire_all

    while not stop.wait(interval):
        try:
            report = expire_all(container.directory(), container.uow)
            if report.expired or report.released:
                log.info("swept", expired=report.expired, released=report.released)
        except Exception as exc:  # keep sweeping; the next round retries
            log.exception("sweep failed", error=repr(exc))


def create_app(container: Container | None = None, *, sweeper: bool = False) -> FastAPI:
    container = container or build()
    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="Multi-tenant vouchers and real-time rewards",
        docs_url=None,  # served from the package by docs.install, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan(sweeper),
        # Observability here is Prometheus (/metrics) and structured logs. FastAPI's own
        # OpenTelemetry hooks would look up tracer and meter providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.container = container
    app.state.metrics = Metrics()
    container.rewards.condition_failed = app.state.metrics.condition_failures.inc
    for module in ROUTERS:
        app.include_router(module.router)
    problems.install(app)
    docs.install(app)
    app.add_middleware(PointOfSale, container=container)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContext)  # the outer one: request ids, unexpected errors
    return app


def create_app_from_env() -> FastAPI:
    """Entry for ``uvicorn --factory``: settings from the environment."""
    return create_app(sweeper=True)
