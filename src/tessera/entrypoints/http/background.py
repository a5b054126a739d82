"""Long work started by a request and carried on after the answer (batch generation).

A small pool of threads in the server process: the request answers 202 at once, the work
reports progress to the database, and shutdown waits for what is running. Work cut short
by a crash is found and failed by the worker's batch recovery (``services.batches``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request

log = structlog.get_logger(__name__)


class BackgroundWork:
    def __init__(self, max_workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="background")

    def start(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = self._pool.submit(fn, *args, **kwargs)
        future.add_done_callback(_log_failure)
        return future

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("background work failed", error=repr(error))


async def get_background(request: Request) -> BackgroundWork:
    work: BackgroundWork = request.app.state.background
    return work


Background = Annotated[BackgroundWork, Depends(get_background)]
