"""The app factory: nothing connects to a database until ``create_app`` is called."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from tessera import __version__
from tessera.bootstrap import Container, build
from tessera.entrypoints.http import (
    batches,
    distributions,
    edrs,
    health,
    keys,
    lifecycles,
    notifications,
    problems,
    subscribers,
    templates,
    voucher_lists,
    voucher_types,
    webhooks,
)
from tessera.entrypoints.http.background import BackgroundWork
from tessera.entrypoints.http.metrics import Metrics, MetricsMiddleware
from tessera.services.batches import fail_abandoned_batches

ROUTERS = (
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
)


def recover(container: Container) -> None:
    """Fails batches whose generating process died (run at start, by the API and the CLI)."""
    timeout = timedelta(seconds=container.settings.batch_heartbeat_timeout_seconds)
    fail_abandoned_batches(container.directory(), container.uow, timeout)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    recover(app.state.container)
    app.state.background = BackgroundWork()
    try:
        yield
    finally:
        app.state.background.shutdown()  # let running generations finish


def create_app(container: Container | None = None) -> FastAPI:
    container = container or build()
    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="Multi-tenant vouchers and real-time rewards",
        docs_url="/docs",
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.container = container
    app.state.metrics = Metrics()
    for module in ROUTERS:
        app.include_router(module.router)
    problems.install(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def create_app_from_env() -> FastAPI:
    """Entry for ``uvicorn --factory``: settings from the environment."""
    return create_app()
