"""Logging, configured once per process by ``bootstrap.build`` (``configure``).

Why it is built this way (issue 13):
- Every line, from structlog or from the standard library (uvicorn, gunicorn, SQLAlchemy),
  goes through one handler and one formatter, so one set of rules holds for all of them:
  JSON lines with ``TESSERA_LOG_JSON``, the level from ``TESSERA_LOG_LEVEL``, the request id
  bound by the HTTP app, and the redaction below.
- An exception is summarized, never pretty-printed: its type, a capped message and the
  file:line of its last frames, without local variables (Rich's traceback with locals, the
  structlog default, wrote the bearer key, the request and its body into the log and took
  seconds per error).
- What can be named is redacted wherever it appears: bearer credentials, API keys
  (``tsk_...``), generated webhook secrets (``whsec_...``) and this process's own server
  secrets; a caller may add the plain values of its request (``redacting=``) for one line.
  Every string is capped, so no line grows with its input.
- The handler only queues the finished line; a thread writes it. A slow or stuck stderr
  then drops lines (counted, and said when the writer catches up) instead of stalling a
  request.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
REDACTED = "[redacted]"
MAX_STRING = 1_000  # characters of any one string in a line
MAX_EXCEPTION = 6_000  # characters of an exception's summary
MAX_MESSAGE = 500  # characters of an exception's message
MAX_FRAMES = 15  # the innermost frames of a traceback
MAX_CHAIN = 3  # exceptions of a chain (cause, context) shown
MAX_ITEMS = 50  # items of a list or dict in a line
QUEUE_LINES = 10_000  # lines waiting for the writer before new ones are dropped
FLUSH_SECONDS = 2.0  # at exit, how long the last lines may take to be written

# A bearer credential, whatever it is; API keys and generated webhook secrets by their
# prefixes (domain/tenants.KEY_PREFIX, services/notifications), wherever they appear.
_NAMED = re.compile(
    r"(?P<scheme>\bbearer\s+)[^\s\"',;]+|(?P<prefix>\b(?:tsk|whsec)_)[A-Za-z0-9_\-]{4,}",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"[\s,;\"'=&]+")
_SEPARATORS = re.compile(r"[\s\-_.]+")
SHORTEST_REDACTED = 4  # shorter strings are not worth the noise of redacting
_server_secrets: tuple[str, ...] = ()
_handler: QueuedStreamHandler | None = None


def configure(*, level: str = "info", json: bool = False, secrets: Iterable[str] = ()) -> None:
    """Configures structlog and the standard library's root logger for this process; safe
    to call again (tests build many containers): the last call wins."""
    global _server_secrets
    _server_secrets = tuple(sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True))
    number = LEVELS.get(level.lower(), logging.INFO)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        summarize_exception,
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(number),
        cache_logger_on_first_use=False,
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = shared_handler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(number)
    # One line per HTTP request or outgoing webhook call is what the metrics are for; and
    # httpx's lines carry whole URLs, which may carry a receiver's token.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(number, logging.WARNING))


def shared_handler() -> QueuedStreamHandler:
    """The one handler of this process (gunicorn's loggers are given it too)."""
    global _handler
    if _handler is None:
        _handler = QueuedStreamHandler()
    return _handler


# --- processors ---------------------------------------------------------------------------


def summarize_exception(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Replaces ``exc_info`` by a bounded summary: no locals, no source lines."""
    exc_info = event_dict.pop("exc_info", None)
    if not exc_info:
        return event_dict
    error: BaseException | None
    if exc_info is True:
        error = sys.exc_info()[1]
    elif isinstance(exc_info, BaseException):
        error = exc_info
    elif isinstance(exc_info, tuple):
        error = exc_info[1]
    else:
        error = None
    if error is not None:
        event_dict["exception"] = exception_summary(error)
    return event_dict


def exception_summary(error: BaseException) -> str:
    """``Type: message`` and ``file:line in function`` of the innermost frames, for the
    exception and up to two it was raised from or during."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < MAX_CHAIN:
        seen.add(id(current))
        parts.append(_one_exception(current))
        if current.__cause__ is not None:
            parts.append("raised from")
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            parts.append("raised while handling")
            current = current.__context__
        else:
            current = None
    return "\n".join(parts)


def _one_exception(error: BaseException) -> str:
    frames = _frames(error.__traceback__)
    lines = [f"  {f.f_code.co_filename}:{lineno} in {f.f_code.co_name}" for f, lineno in frames]
    message = _cap(str(error), MAX_MESSAGE)
    return "\n".join([f"{type(error).__module__}.{type(error).__qualname__}: {message}", *lines])


def _frames(tb: TracebackType | None) -> list[tuple[Any, int]]:
    frames: list[tuple[Any, int]] = []
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames[-MAX_FRAMES:]


def redact(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Caps every string and removes what is known to be secret. ``redacting`` (popped):
    plain values that a caller knows came with the request (its credentials, its body),
    removed from what may quote them: the exception and the error."""
    extra = event_dict.pop("redacting", None)
    pattern = _literal_pattern(_server_secrets)
    quoting = pattern
    if extra:
        quoting = _literal_pattern(
            _server_secrets + tuple(sorted(set(extra), key=len, reverse=True))
        )
    cleaned = {
        k: _clean(v, quoting if k in ("exception", "error") else pattern)
        for k, v in event_dict.items()
    }
    if isinstance(summary := event_dict.get("exception"), str):
        cleaned["exception"] = _cap(_NAMED.sub(_named, _scrub(summary, quoting)), MAX_EXCEPTION)
    return cleaned


def _scrub(text: str, pattern: re.Pattern[str] | None) -> str:
    return text if pattern is None else pattern.sub(REDACTED, text)


def strings_of(data: bytes) -> set[str]:
    """The plain strings of a body or a message, to pass as ``redacting=``: JSON string
    leaves, else its words (a CSV's cells), and each without separators, since a code may
    be quoted normalized. Strings shorter than ``SHORTEST_REDACTED`` are left out."""
    if not data:
        return set()
    text = data.decode("utf-8", "replace")
    found: set[str] = set()
    try:
        _leaves(jsonlib.loads(text), found)
    except ValueError:
        found.update(_SPLIT.split(text))
    found.update([_SEPARATORS.sub("", s) for s in found])
    return {s for s in found if len(s) >= SHORTEST_REDACTED}


def _leaves(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _leaves(item, found)
    elif isinstance(value, list):
        for item in value:
            _leaves(item, found)


def _literal_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    if not values:
        return None
    return re.compile("|".join(re.escape(v) for v in values), re.IGNORECASE)


def _clean(value: Any, pattern: re.Pattern[str] | None) -> Any:
    if isinstance(value, str):
        if pattern is not None:
            value = pattern.sub(REDACTED, value)
        return _cap(_NAMED.sub(_named, value), MAX_STRING)
    if isinstance(value, Mapping):
        items = list(value.items())[:MAX_ITEMS]
        return {k: _clean(v, pattern) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, pattern) for v in list(value)[:MAX_ITEMS]]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, logging.LogRecord):  # ProcessorFormatter's own bookkeeping
        return value
    return _clean(str(value), pattern)


def _named(match: re.Match[str]) -> str:
    return (match.group("scheme") or match.group("prefix")) + REDACTED


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more]"


# --- the sink -----------------------------------------------------------------------------


class QueuedStreamHandler(logging.Handler):
    """Formats in the caller (bounded work), writes to stderr in a thread of its own.

    A full queue drops the line and counts it: a log that cannot keep up loses lines, never
    the request that logged them. After a fork (gunicorn's workers) the child starts its
    own queue and writer: the parent's thread does not exist there."""

    def __init__(self) -> None:
        super().__init__()
        self._start()
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._queue: queue.Queue[str] = queue.Queue(QUEUE_LINES)
        self._dropped = 0
        self._writer = threading.Thread(target=self._write, name="tessera-log", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a line that cannot be formatted is lost, not the caller
            self._dropped += 1
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self._dropped += 1

    def _write(self) -> None:
        q = self._queue
        while True:
            line = q.get()
            try:
                stream = sys.stderr
                if self._dropped:
                    dropped, self._dropped = self._dropped, 0
                    stream.write(f"[logging] {dropped} lines dropped: the log fell behind\n")
                stream.write(line + "\n")
                if q.empty():
                    stream.flush()
            except Exception:  # noqa: S110 - nowhere left to report a broken stderr
                pass
            finally:
                q.task_done()

    def flush(self) -> None:
        """Waits (a little) for the queued lines: called at exit by ``logging.shutdown``."""
        deadline = time.monotonic() + FLUSH_SECONDS
        q = self._queue
        with q.all_tasks_done:
            while q.unfinished_tasks and (left := deadline - time.monotonic()) > 0:
                q.all_tasks_done.wait(left)
