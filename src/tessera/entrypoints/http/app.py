"""The app factory: nothing connects to a database until ``create_app`` is called."""

from __future__ import annotations

from fastapi import FastAPI

from tessera import __version__
from tessera.bootstrap import Container, build
from tessera.entrypoints.http import (
    campaigns,
    distributions,
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
    webhooks,
)
from tessera.entrypoints.http.metrics import Metrics, MetricsMiddleware

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
    events,
    campaigns,
)


def create_app(container: Container | None = None) -> FastAPI:
    container = container or build()
    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="Multi-tenant vouchers and real-time rewards",
        docs_url="/docs",
        openapi_url="/openapi.json",
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
