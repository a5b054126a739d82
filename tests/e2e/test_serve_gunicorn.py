"""`tessera serve --workers 2` is gunicorn with uvicorn workers on their own sockets
(`reuse_port`): real processes, real connections."""

import concurrent.futures
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
WORKERS = 2
CONNECTIONS = 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == pid:
                    found.add(int(entry.name))
    return found


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    tmp = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PROMETHEUS_"))}
    env |= {
        "TESSERA_DATABASE_URL": f"sqlite:///{tmp / 'serve.db'}",
        "TESSERA_CODE_SECRET": "serve-test-secret",
        "TESSERA_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tessera.entrypoints.cli", "serve", "--workers", str(WORKERS),
         "--port", str(port)],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while len(_answering_pids(base, 8)) < WORKERS:
            assert process.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the workers did not all start"
            time.sleep(0.2)
        yield process, base
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=40)
        process.kill()


def _answering_pids(base: str, connections: int) -> list[int]:
    """One GET /healthz on each of ``connections`` connections open at once."""
    clients = [httpx.Client(base_url=base, timeout=10) for _ in range(connections)]
    try:
        with concurrent.futures.ThreadPoolExecutor(connections) as pool:
            answers = list(pool.map(lambda c: c.get("/healthz"), clients))
        return [a.json()["pid"] for a in answers]
    except httpx.TransportError:
        return []
    finally:
        for client in clients:
            client.close()


def test_every_worker_serves_some_of_32_connections(server):
    process, base = server
    pids = Counter(_answering_pids(base, CONNECTIONS))
    assert sum(pids.values()) == CONNECTIONS
    assert set(pids) == _children(process.pid)  # the arbiter's workers, each of them
    assert len(pids) == WORKERS, pids


def _counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    found = re.search(
        r'^tessera_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$',
        text,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


def test_one_metrics_scrape_adds_up_the_requests_of_every_worker(server):
    _process, base = server
    before = _counted(base)
    pids = Counter(_answering_pids(base, CONNECTIONS))
    assert len(pids) == WORKERS  # the requests were spread, so no one worker saw them all
    assert _counted(base) - before == CONNECTIONS


def test_a_replaced_worker_keeps_its_counts_in_the_scrape(server):
    process, base = server
    _answering_pids(base, CONNECTIONS)
    before = _counted(base)
    old = _children(process.pid)
    victim = min(old)
    os.kill(victim, signal.SIGTERM)  # the arbiter starts another in its place
    deadline = time.monotonic() + 60
    while victim in _children(process.pid) or len(_children(process.pid)) < WORKERS:
        assert time.monotonic() < deadline, "the worker was not replaced"
        time.sleep(0.2)
    while len(set(_answering_pids(base, 8))) < WORKERS:
        assert time.monotonic() < deadline, "the new worker does not answer"
        time.sleep(0.2)
    assert _counted(base) >= before  # the stopped worker's requests are still counted


def test_on_sqlite_the_workers_run_the_background_jobs_and_one_scrape_counts_them(server):
    _process, base = server
    deadline, text = time.monotonic() + 60, ""
    while 'tessera_worker_job_runs_total{job="purge",outcome="ok"}' not in text:
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
        text = httpx.get(f"{base}/metrics").text
    for job in ("expire", "release-holds", "batch-recovery", "seal"):
        assert f'tessera_worker_job_runs_total{{job="{job}",outcome="ok"}}' in text


def test_sigterm_stops_the_arbiter_and_its_workers(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PROMETHEUS_"))}
    env |= {
        "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "TESSERA_CODE_SECRET": "serve-test-secret",
        "TESSERA_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tessera.entrypoints.cli", "serve", "--workers", "2",
         "--port", str(port)],
        env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not _answering_pids(f"http://127.0.0.1:{port}", 1):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        workers = _children(process.pid)
        assert workers
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        process.kill()
