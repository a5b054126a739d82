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
from typing import Any

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


@contextmanager
def tessera_serve(database_url: str, tmp: Path, env: dict[str, str]) -> Iterator[str]:
    """``tessera serve`` in a subprocess on a free port (the real server: gunicorn, one
    worker); yields its base URL. ``env`` adds settings (``TESSERA_...``)."""
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PROMETHEUS_"))}
    clean |= {"TESSERA_DATABASE_URL": database_url, "TESSERA_LOG_LEVEL": "warning"} | env
    log = tmp / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tessera.entrypoints.cli", "serve", "--workers", "1",
             "--port", str(port)],
            env=clean, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"the server stopped: {log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


SCREENSHOTS = Path(
    os.environ.get("TESSERA_SCREENSHOTS", Path(__file__).parent.parent / ".screenshots")
)


# axe-core 4.14.1 (MPL-2.0, unmodified; its licence beside it), from the npm registry's
# axe-core package: an automated accessibility check that runs in the page.
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2 A and AA violations on the page as it is now (the page's context
    must bypass the CSP: the script is injected inline)."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return found
