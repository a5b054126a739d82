"""Liveness, readiness (the database answers) and Prometheus metrics."""

from __future__ import annotations

import os

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tessera.entrypoints.http.deps import ContainerDep
from tessera.entrypoints.http.problems import problem

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str | int]:
    """Names the worker process that answered (how connections spread over workers)."""
    return {"status": "alive", "pid": os.getpid()}


@router.get("/readyz", response_model=None)
def readyz(container: ContainerDep) -> dict[str, str] | Response:
    try:
        with container.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return problem(
            503, "database_unreachable", f"the database does not answer: {type(exc).__name__}"
        )
    return {"status": "ready", "database": container.engine.dialect.name}


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Under ``tessera serve`` (several workers) the sum over every worker's files, else this
    process's own registry."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
