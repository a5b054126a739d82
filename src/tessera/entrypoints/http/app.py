"""The app factory: nothing connects to a database until ``create_app`` is called."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from tessera import __version__
from tessera.bootstrap import Container, build
from tessera.entrypoints import console
from tessera.entrypoints.http import (
    bars,
    batches,
    brands,
    campaigns,
    distributions,
    docs,
    edrs,
    events,
    fulfilments,
    health,
    keys,
    lifecycles,
    lookups,
    marketplace,
    notifications,
    problems,
    reports,
    subscribers,
    templates,
    voucher_lists,
    voucher_types,
    vouchers,
    webhooks,
)
from tessera.entrypoints.http.background import BackgroundWork
from tessera.entrypoints.http.input_guard import RefuseNul
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
    marketplace,
    brands,
    lifecycles,
    voucher_types,
    subscribers,
    edrs,
    reports,
    voucher_lists,
    distributions,
    webhooks,
    notifications,
    templates,
    batches,
    campaigns,
    fulfilments,
    lookups,
    bars,
)


def recover(container: Container) -> None:
    """Fails batches whose generating process died (run by the batch commands of the CLI)."""
    timeout = timedelta(seconds=container.settings.batch_heartbeat_timeout_seconds)
    fail_abandoned_batches(container.directory(), container.uow, timeout)


def _lifespan(background: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While serving: batch generation started by requests and, with ``background``
    (``serve`` does; tests mostly don't) on the embedded SQLite default only, the background
    jobs of ``tessera worker`` in a thread (the leases let one HTTP worker run each). On
    PostgreSQL ``tessera worker`` runs them in processes of their own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container: Container = app.state.container
        await container.open_quick_uses()
        # Everything loaded so far (modules, routes, models) lives as long as the process:
        # moved out of the collector's reach, a full collection no longer walks it (it took
        # ~110 ms on a worker, the whole p99 budget of an event batch; now ~10 ms).
        gc.freeze()
        # On SQLite one batch generates at a time: its chunks queue on the one writer anyway,
        # and two generations in turn kept other writers waiting two chunks (a chunk is one
        # transaction of up to 200,000 vouchers): past the 30 s busy timeout under load.
        app.state.background = BackgroundWork(max_workers=1 if container.settings.is_sqlite else 2)
        stop_worker = None
        if background and container.settings.is_sqlite:
            from tessera.entrypoints.worker import start_in_process

            stop_worker = start_in_process(container, app.state.metrics.registry)
        try:
            yield
        finally:
            if stop_worker is not None:
                stop_worker()
            app.state.background.shutdown()  # let running generations finish
            await container.close_quick_uses()

    return lifespan


def create_app(container: Container | None = None, *, background: bool = False) -> FastAPI:
    container = container or build()
    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="Multi-tenant vouchers and real-time rewards",
        docs_url=None,  # served from the package by docs.install, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan(background),
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
    console.install(app)
    app.add_middleware(PointOfSale, container=container, metrics=app.state.metrics)
    app.add_middleware(RefuseNul)  # before anything reads a value
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContext)  # the outer one: request ids, unexpected errors
    return app


def create_app_from_env() -> FastAPI:
    """Entry for ``uvicorn --factory``: settings from the environment."""
    return create_app(background=True)
