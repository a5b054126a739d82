"""Several HTTP worker processes behind one port, each new connection handed to the next
worker in turn.

Worker processes that share one listening socket do not share its connections: whichever
wakes first accepts every connection waiting. A client opening its pool of four connections
at once had all four on one worker 26 to 30 times in 30 here (uvicorn's own supervisor, with
or without ``UV_TCP_SINGLE_ACCEPT``, uvloop or asyncio), the other worker idle, and it keeps
them: keep-alive connections live as long as the client. Node's cluster module hands
connections out from its primary process for the same reason, and so does this one: the
primary accepts and passes each connection's descriptor to the workers in turn over a Unix
socket (``SCM_RIGHTS``); a worker serves it with uvicorn's protocol as if it had accepted it.

The primary restarts a worker that dies, kills and restarts one whose event loop stops
answering its pings (a hung worker would otherwise go on being handed connections), and
stops the workers (each finishing its open requests, as uvicorn does) on SIGINT or SIGTERM.
Linux and other Unix systems only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import select
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from typing import Any

import uvicorn

log = logging.getLogger("uvicorn.error")  # where uvicorn's own supervisor writes (stderr)

_SPAWN = multiprocessing.get_context("spawn")
_HAND_OUT_WAIT = 5.0  # seconds a new connection may wait for a worker's queue to have room
_GRACE = 30.0  # seconds the workers have to finish their requests when told to stop
_STARTUP_FAILURE = 3  # a worker's exit code when the application could not start (uvicorn's)
_PING = b"p"  # on a channel without a descriptor: the primary asks, the worker's loop answers
_CONNECTION = b"c"


def serve(
    config: dict[str, Any], *, host: str, port: int, workers: int, timeout: float = 30.0
) -> None:
    """Listens on ``host:port`` and serves with ``workers`` processes until told to stop.
    ``config``: the keyword arguments of ``uvicorn.Config`` for each worker; ``timeout``: how
    long a worker may leave a ping unanswered (twice that while it starts). Exits with
    uvicorn's code 3 if a worker could not start the application (instead of starting
    another, which would fail the same way, again and again)."""
    uvicorn.Config(**config)  # configures the logging, as in each worker
    listener = socket.create_server((host, port), backlog=2048)
    listener.setblocking(False)
    primary = _Primary(config, listener, workers, timeout)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info("Serving on http://%s:%d with %d workers, connections handed out in turn",
             host, port, workers)  # fmt: skip
    try:
        primary.run(stop)
    finally:
        listener.close()  # refused from now on, rather than left waiting
        primary.close()
    if primary.failed:
        sys.exit(_STARTUP_FAILURE)


@dataclass
class _Worker:
    """One worker process, the primary's end of the socket its connections go through, and
    when its event loop last answered a ping (None: not yet, it is starting)."""

    process: SpawnProcess
    channel: socket.socket
    started: float
    answered: float | None = None
    pinged: float = 0.0

    @classmethod
    def start(cls, config: dict[str, Any]) -> _Worker:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = _SPAWN.Process(target=_work, args=(config, theirs), name="tessera-http")
        process.start()
        theirs.close()
        ours.setblocking(False)  # a worker that stops reading must not stop the primary
        return cls(process, ours, time.monotonic())

    def ping(self, now: float, every: float) -> None:
        """Reads the answers waiting, and asks again every ``every`` seconds."""
        with contextlib.suppress(OSError):  # nothing more to read, or the worker is gone
            while self.channel.recv(1) == _PING:
                self.answered = now
        if now - self.pinged >= every:
            self.pinged = now
            with contextlib.suppress(OSError):  # its queue is full: that is its answer
                self.channel.send(_PING)

    def silent_for(self, now: float, timeout: float) -> float | None:
        """Seconds without an answer, if more than allowed (twice ``timeout`` to start)."""
        since = self.started if self.answered is None else self.answered
        allowed = 2 * timeout if self.answered is None else timeout
        return now - since if now - since > allowed else None

    def stop(self) -> None:
        """Closing the channel tells the worker to finish its requests and exit."""
        self.channel.close()


class _Primary:
    def __init__(
        self, config: dict[str, Any], listener: socket.socket, workers: int, timeout: float
    ) -> None:
        self.config = config
        self.listener = listener
        self.timeout = timeout
        self.workers = [_Worker.start(config) for _ in range(workers)]
        self.turn = 0
        self.failed = False

    def run(self, stop: threading.Event) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            while not stop.is_set():
                ready = selector.select(timeout=0.5)
                if stop.is_set():  # workers stopped by the same Ctrl-C are not replaced
                    return
                if ready:
                    self._accept_waiting(stop)
                self._kill_silent()
                if not self._replace_dead():
                    return

    def _accept_waiting(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                connection, _peer = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, say: keep serving the others
                log.warning("accept failed: %r", exc)
                return
            with connection:
                self._hand_out(connection)

    def _hand_out(self, connection: socket.socket) -> None:
        """To the next worker whose queue has room; if none has, waits (up to
        ``_HAND_OUT_WAIT``) for one to take some before dropping the connection. A worker
        that is gone is skipped here and replaced by ``_replace_dead``."""
        deadline = time.monotonic() + _HAND_OUT_WAIT
        while True:
            for _attempt in range(len(self.workers)):
                channel = self.workers[self.turn].channel
                self.turn = (self.turn + 1) % len(self.workers)
                try:
                    socket.send_fds(channel, [_CONNECTION], [connection.fileno()])
                    return
                except OSError:  # its queue is full (it is not reading), or it is gone
                    continue
            alive = [w.channel for w in self.workers if w.process.is_alive()]
            remaining = deadline - time.monotonic()
            if not alive or remaining <= 0:
                log.warning("no worker took the connection: dropped")
                return
            select.select([], alive, [], remaining)

    def _kill_silent(self) -> None:
        """A worker whose event loop does not answer is killed (and so replaced)."""
        now = time.monotonic()
        for worker in self.workers:
            worker.ping(now, every=min(1.0, self.timeout / 4))
            silent = worker.silent_for(now, self.timeout)
            if silent is not None and worker.process.is_alive():
                log.warning("worker %s has not answered for %.0f s: killed", worker.process.pid,
                            silent)  # fmt: skip
                worker.process.kill()
                worker.process.join(timeout=5)

    def _replace_dead(self) -> bool:
        """Starts a worker in place of each that ended; False if one could not start the
        application (the primary then stops)."""
        for index, worker in enumerate(self.workers):
            if worker.process.is_alive():
                continue
            worker.stop()
            if worker.process.exitcode == _STARTUP_FAILURE:
                log.error("worker %s could not start the application: stopping",
                          worker.process.pid)  # fmt: skip
                self.failed = True
                return False
            log.warning("worker %s ended (exit code %s): starting another", worker.process.pid,
                        worker.process.exitcode)  # fmt: skip
            self.workers[index] = _Worker.start(self.config)
        return True

    def close(self) -> None:
        """Lets the workers finish their requests for up to ``_GRACE`` seconds, then kills
        those still running (a second SIGTERM does not hurry uvicorn once it is stopping)."""
        for worker in self.workers:
            worker.stop()
        deadline = time.monotonic() + _GRACE
        for worker in self.workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            if worker.process.is_alive():
                log.warning("worker %s still busy after %g s: killed", worker.process.pid, _GRACE)
                worker.process.kill()
                worker.process.join(timeout=5)


def _work(config: dict[str, Any], channel: socket.socket) -> None:
    """A worker process: uvicorn's server without a listening socket of its own. Ctrl-C
    reaches it too; uvicorn stops gracefully, then raises it again."""
    with contextlib.suppress(KeyboardInterrupt):
        _HandedConnections(uvicorn.Config(**config), channel).run()


class _HandedConnections(uvicorn.Server):
    """Serves the connections the primary hands over; stops when the primary goes away."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self.channel = channel
        self._connecting: set[asyncio.Task[Any]] = set()  # held until running (see asyncio)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan, no listener
        if self.should_exit:
            return
        self.channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self.channel.fileno(), self._take)

    def _take(self) -> None:
        """Every connection waiting in the channel."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, flags, _address = socket.recv_fds(self.channel, 1, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # reset: the primary closed the channel with answers unread
                message, fds, flags = b"", [], 0
            if flags & socket.MSG_CTRUNC:
                log.warning("a handed connection was lost: this worker has no descriptor left")
            if not message:  # the primary closed the channel: finish and exit
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            if message == _PING:
                with contextlib.suppress(OSError):  # the primary reads its answers
                    self.channel.send(_PING)
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, connection))
                self._connecting.add(task)
                task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._connecting.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("a handed connection could not be served: %r", exc)

    def _protocol(self) -> asyncio.Protocol:
        """What uvicorn's own ``startup`` makes for each connection it accepts."""
        protocol: asyncio.Protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
        self.channel.close()
        await super().shutdown(sockets)
