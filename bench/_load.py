"""A lean HTTP/1.1 load generator for the benchmarks.

httpx spends about a millisecond of CPU per request; on this 2-core machine the load
generator shares the cores with the server and the database, so a heavy client measures
itself. This one keeps plain keep-alive connections on asyncio streams (uvloop when
installed) and parses only the status line and Content-Length: a few tens of microseconds
per request. Latency is measured from when a request was due (open loop) or sent (closed
loop) to when its whole answer arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    bodies: list[bytes] = field(default_factory=list)  # kept only when asked

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


class Connection:
    """One keep-alive connection; requests on it go one at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.fixed}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _target(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def _connections(base: str, count: int, headers: dict[str, str]) -> list[Connection]:
    host, port = _target(base)
    opening = (Connection(host, port, headers).open() for _ in range(count))
    return list(await asyncio.gather(*opening))


async def closed_loop(
    base: str,
    path: str,
    bodies: Sequence[bytes],
    clients: int,
    headers: dict[str, str],
    keep_bodies: bool = False,
) -> Result:
    """``clients`` connections, each sending its next request as soon as the last returns."""
    result = Result()
    pending = iter(bodies)
    pool = await _connections(base, clients, headers)

    async def client(conn: Connection) -> None:
        for body in pending:
            sent = time.perf_counter()
            status, answer = await conn.post(path, body)
            result.latencies.append(time.perf_counter() - sent)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if keep_bodies:
                result.bodies.append(answer)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in pool))
    result.elapsed = time.perf_counter() - started
    for c in pool:
        c.close()
    return result


async def open_loop(
    base: str,
    path: str,
    bodies: Sequence[bytes],
    rate: float,
    headers: dict[str, str],
    connections: int = 64,
) -> Result:
    """Requests due on a fixed schedule whatever the answers (``rate`` per second); a
    request waits for a free connection, and that wait counts in its latency."""
    result = Result()
    pool = await _connections(base, connections, headers)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in pool:
        idle.put_nowait(c)

    async def one(due: float, body: bytes) -> None:
        conn = await idle.get()
        try:
            status, _answer = await conn.post(path, body)
        finally:
            idle.put_nowait(conn)
        result.latencies.append(time.perf_counter() - due)
        result.statuses[status] = result.statuses.get(status, 0) + 1

    tasks = []
    begin = time.perf_counter()
    for index, body in enumerate(bodies):
        due = begin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due, body)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - begin
    for c in pool:
        c.close()
    return result


def run(coroutine: Callable[[], Coroutine[Any, Any, Result]]) -> Result:
    """Runs on uvloop when it is installed (it comes with uvicorn[standard]).

    The garbage collector is off while the load runs, and what exists before is frozen:
    the generator keeps a task per request alive, and a full collection over them stopped
    it for 50-130 ms, which it then measured as the server's latency (seen as the p99 of
    the fixed-rate redemption run). The load makes no reference cycles worth collecting."""
    gc.freeze()
    gc.disable()
    try:
        with contextlib.suppress(ImportError):
            import uvloop

            return uvloop.run(coroutine())
        return asyncio.run(coroutine())
    finally:
        gc.enable()
        gc.unfreeze()


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
