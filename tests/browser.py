"""A real browser for the tests: Playwright driving Debian's Chromium (a test tool's own
browser download does not work on these machines), against a live server in a thread.

Without ``/usr/bin/chromium`` the browser tests skip with the reason, unless
``TESSERA_REQUIRE_BROWSER=1`` (CI installs the package and sets it), where they fail."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("TESSERA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TESSERA_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serves ``app`` on a free loopback port until the block ends; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
