"""``tessera serve``: gunicorn with uvicorn's worker class, each worker on its own listening
socket (``reuse_port``), so the kernel spreads new connections over the workers instead of
whichever worker wakes first taking them all from one shared queue.

Metrics: every worker writes its counters to a fresh directory for this run
(prometheus-client's multiprocess mode), so one scrape of ``/metrics`` adds up all the
workers; a worker that exits is marked dead there by the arbiter.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from tessera.adapters import logs

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Server(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn embedded: the settings come from here, not from its command line."""

    def __init__(self, load: Callable[[], Any], options: dict[str, Any]) -> None:
        self._load = load
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load()  # in each worker, after the fork: its own engine and pools


class _Logger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's error log (and uvicorn's, which its worker class points at the same
    handlers) written through this process's one handler: same format, same redaction,
    same bounded exceptions. There is no access log: the metrics count requests."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.handlers = [logs.shared_handler()]
        self.error_log.propagate = False


def _post_fork(_arbiter: Any, _worker: Any) -> None:
    """A worker writes its metrics to the run's directory (prometheus-client picks its value
    class when first imported; this makes sure it picked the multiprocess one)."""
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def _child_exit(_arbiter: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def serve(
    *,
    host: str,
    port: int,
    workers: int,
    timeout: float,
    log_level: str,
) -> None:
    """Serves until SIGTERM or SIGINT (each worker finishes its open requests first).
    ``timeout``: a worker silent this long is killed and replaced (gunicorn's ``timeout``)."""
    arbiter = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="tessera-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # inherited by the workers
    from tessera.entrypoints.http.app import create_app_from_env

    options = {
        "bind": [f"{host}:{port}"],
        "workers": workers,
        "worker_class": "uvicorn_worker.UvicornWorker",
        "reuse_port": True,
        "timeout": int(max(1, timeout)),
        "graceful_timeout": 30,
        "keepalive": 5,
        "backlog": 2048,
        "loglevel": log_level,
        "accesslog": None,
        "logger_class": _Logger,
        "proc_name": "tessera",
        "post_fork": _post_fork,
        "child_exit": _child_exit,
    }
    try:
        _Server(create_app_from_env, options).run()
    finally:
        if os.getpid() == arbiter:  # a worker's exit unwinds through here too
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)
