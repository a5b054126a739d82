"""The app factory: nothing connects to a database until ``create_app`` is called."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import structlog
from fastapi import FastAPI

from tessera import __version__
from tessera.bootstrap import Container, build
from tessera.entrypoints.http import (
    edrs,
    health,
    keys,
    lifecycles,
    problems,
    subscribers,
    voucher_types,
    vouchers,
)
from tessera.entrypoints.http.metrics import Metrics, MetricsMiddleware

log = structlog.get_logger(__name__)

ROUTERS = (health, keys, lifecycles, voucher_types, subscribers, edrs, vouchers)


def create_app(container: Container | None = None, *, sweeper: bool = False) -> FastAPI:
    """``sweeper``: run the expiry sweeper in the background (``serve`` does; tests don't)."""
    container = container or build()
    app = FastAPI(
        lifespan=_sweeping(container) if sweeper else None,
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
    return create_app(sweeper=True)


def _sweeping(container: Container) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A thread that expires vouchers and releases lapsed holds every
    ``sweeper_interval_seconds``. With several workers each sweeps; the sweeps are
    compare-and-set, so they never expire a voucher twice."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        interval = container.settings.sweeper_interval_seconds
        stop = threading.Event()
        thread = None
        if interval > 0:
            thread = threading.Thread(
                target=_sweep_forever, args=(container, interval, stop), daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=5)

    return lifespan


def _sweep_forever(container: Container, interval: float, stop: threading.Event) -> None:
    from tessera.services.expiry import expire_all

    while not stop.wait(interval):
        try:
            report = expire_all(container.directory(), container.uow)
            if report.expired or report.released:
                log.info("swept", expired=report.expired, released=report.released)
        except Exception as exc:  # keep sweeping; the next round retries
            log.exception("sweep failed", error=repr(exc))
