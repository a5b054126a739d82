"""The outermost layer of the app: a request id for every request, and the one place where
an unexpected error becomes an answer.

The id (the caller's ``X-Request-Id`` when it is a plain short token, else a new one) is
bound to structlog's context, so every line logged while the request runs carries it; it is
sent back as ``X-Request-Id`` and in every problem answer (``problems.problem``).

An unexpected error is answered here with a 500 problem and logged as one bounded line:
the route template (not the path), the error's type, its capped message and the file:line
of its frames, never headers, body or local variables. Whatever plain text the request
brought (its credentials, its query values, the strings of its body) is redacted from that
line, since an error message may quote an input (PostgreSQL's do). The error is not raised
further: the server would log it again, in full (Starlette's error middleware re-raises).
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera.adapters import logs
from tessera.entrypoints.http.problems import problem

HEADER = "X-Request-Id"
_HEADER = HEADER.lower().encode()
# A caller's id is kept only when it cannot smuggle anything into a log: short, plain, and
# not an API key.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
KEPT_BODY = 65_536  # bytes of a body kept in memory to redact from an error's line

log = structlog.get_logger(__name__)


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope["headers"]) or uuid.uuid4().hex
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        id_header = (_HEADER, request_id.encode())
        started = False
        body: list[bytes] = []
        kept = 0

        async def receive_kept() -> Message:
            nonlocal kept
            message = await receive()
            if kept < KEPT_BODY and message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                body.append(chunk[: KEPT_BODY - kept])
                kept += len(chunk)
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive_kept, send_with_id)
        except Exception as error:
            log.error(
                "unexpected error",
                method=scope.get("method"),
                route=getattr(scope.get("route"), "path", None) or "unmatched",
                error_type=type(error).__name__,
                answered=not started,
                exc_info=error,
                redacting=request_strings(scope, b"".join(body)),
            )
            if not started:  # else the client sees the answer cut short
                answer = problem(
                    500,
                    "internal_error",
                    "an unexpected error occurred; it was logged with this request_id",
                )
                await answer(scope, _no_receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


def _incoming(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == _HEADER:
            text = value.decode("latin-1")
            if _SANE.fullmatch(text) and not text.lower().startswith(("tsk_", "whsec_")):
                return text
            return None
    return None


def request_strings(scope: Scope, body: bytes) -> list[str]:
    """The plain values a request brought: header values (credentials among them), query
    values, and the strings of its body (``logs.strings_of``)."""
    found: set[str] = set()
    for name, value in scope.get("headers", ()):
        if name not in (_HEADER, b"host", b"content-type", b"content-length", b"accept"):
            text = value.decode("latin-1")
            found.add(text)
            found.update(text.split())
    query: bytes = scope.get("query_string", b"")
    for _name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=False):
        found.add(value)
    found.update(logs.strings_of(body))
    return [s for s in found if len(s) >= logs.SHORTEST_REDACTED]


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
