"""`tessera serve --workers N`: the primary hands connections to the workers in turn, replaces
a worker that dies, and stops them all on SIGTERM. Real processes and sockets; which worker
holds a connection is read from /proc (Linux)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads connection owners from Linux's /proc"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serving(tmp_path: Path, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`tessera serve --workers 2` on a SQLite file, once both workers answer."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {
        "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "TESSERA_CODE_SECRET": "workers-test-secret",
        "TESSERA_LOG_LEVEL": "warning",
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tessera.entrypoints.cli", "serve", "--workers", "2",
         "--port", str(port)],
        env=env,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(_workers(process.pid)) == 2 and _answers(port), "two workers")
        yield process, port
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        process.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with _serving(tmp_path) as running:
        yield running


def _wait_for(condition, what: str, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if condition():
                return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _workers(primary: int) -> set[int]:
    """The primary's worker processes (not multiprocessing's resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == primary and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.add(int(entry.name))
    return found


def _answers(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return _get_health(s)


def _get_health(s: socket.socket) -> bool:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    return s.recv(4096).startswith(b"HTTP/1.1 200")


def _owners(port: int, clients: list[socket.socket], workers: set[int]) -> list[int]:
    """Which worker holds the server's end of each client connection."""
    inode_of_peer = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # established
            inode_of_peer[int(fields[2].split(":")[1], 16)] = fields[9]
    owner_of_inode = {}
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owner_of_inode[target[8:-1]] = pid
    return [owner_of_inode[inode_of_peer[c.getsockname()[1]]] for c in clients]


def _open_together(port: int, count: int) -> list[socket.socket]:
    clients = [socket.socket() for _ in range(count)]
    for c in clients:
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(("127.0.0.1", port))
    for c in clients:
        c.setblocking(True)
        c.settimeout(30)  # a worker just started may still be importing the application
    for c in clients:
        assert _get_health(c)
    return clients


def _split(port: int, count: int, workers: set[int]) -> list[int]:
    """How ``count`` connections opened together were shared: how many each worker holds."""
    clients = _open_together(port, count)
    try:
        return sorted(Counter(_owners(port, clients, workers)).values())
    finally:
        for c in clients:
            c.close()


def test_connections_opened_together_are_shared_between_the_workers(server):
    process, port = server
    workers = _workers(process.pid)
    for _round in range(5):
        assert _split(port, 4, workers) == [2, 2]


def test_a_worker_that_dies_is_replaced_and_connections_go_on_being_served(server):
    process, port = server
    victim = min(_workers(process.pid))
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: len(now := _workers(process.pid)) == 2 and victim not in now, "a new worker")
    assert _split(port, 6, _workers(process.pid)) == [3, 3]


def test_sigterm_stops_the_primary_and_every_worker(server):
    process, port = server
    workers = _workers(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    for pid in workers:
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), f"worker {pid} to end", 10)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_a_worker_that_stops_reading_does_not_stop_the_others_getting_connections(server):
    """A stopped worker's queue of handed connections fills up (a few hundred); the primary
    then hands the next connections to the others instead of waiting for it."""
    process, port = server
    stuck = min(_workers(process.pid))
    os.kill(stuck, signal.SIGSTOP)
    idle = []
    try:
        for _ in range(700):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert _answers(port)
    finally:
        os.kill(stuck, signal.SIGCONT)
        for c in idle:
            c.close()


def test_a_worker_that_cannot_start_the_application_stops_the_server_with_code_3(tmp_path):
    """Instead of starting another worker, which would fail the same way, again and again."""
    (tmp_path / "broken_app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
    )
    code = (
        "from tessera.entrypoints.http import workers\n"
        "workers.serve({'app': 'broken_app:app', 'log_level': 'warning'},\n"
        f"              host='127.0.0.1', port={_free_port()}, workers=2)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    assert "could not start the application" in done.stderr
    assert done.stderr.count("starting another") == 0


def test_a_worker_that_stops_answering_is_killed_and_replaced(tmp_path):
    with _serving(tmp_path, TESSERA_WORKER_TIMEOUT_SECONDS="2") as (process, port):
        hung = min(_workers(process.pid))
        os.kill(hung, signal.SIGSTOP)  # as a worker whose event loop never comes back
        _wait_for(
            lambda: len(now := _workers(process.pid)) == 2 and hung not in now, "a new worker", 30
        )
        assert _split(port, 4, _workers(process.pid)) == [2, 2]
