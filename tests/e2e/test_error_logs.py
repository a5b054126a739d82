"""Issue 13: an unexpected error answers a 500 problem with its request id at once, and no
log line shows a key, a voucher code, a partner code or a server secret."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi.testclient import TestClient

from conftest import TEST_CODE_SECRET, TEST_LIST_KEY
from helpers import auth
from tessera.adapters import logs
from tessera.bootstrap import Container
from tessera.entrypoints.consumer import EventConsumer
from tessera.entrypoints.http import voucher_lists
from tessera.services import lists, redemption

PARTNER_CODE = "JAVA-PARTNER-7731"
VOUCHER_CODE = "QWRT-ZXCV-8842"


def _quoting_its_inputs(*args: Any, **kwargs: Any) -> Any:
    # The worst case: an error whose message quotes every argument it was given (the
    # request, with its plain code; the server secret).
    raise RuntimeError(f"boom: {args!r} {kwargs!r}")


def _everything_logged(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> str:
    logs.shared_handler().flush()
    captured = capsys.readouterr()
    records = [r.getMessage() for r in caplog.records]
    formatted = [logs.shared_handler().format(r) for r in caplog.records]
    return "\n".join([*records, *formatted, captured.out, captured.err])


def test_an_unexpected_error_logs_no_key_no_code_and_answers_at_once(
    api: TestClient,
    container: Container,
    tenant: tuple[uuid.UUID, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tenant[1]
    listed = api.post(
        "/v1/voucher-lists", json={"partner": "Java House", "name": "Coffee"}, headers=auth(key)
    ).json()
    monkeypatch.setattr(redemption, "validate", _quoting_its_inputs)
    monkeypatch.setattr(lists, "report_redemptions", _quoting_its_inputs)
    monkeypatch.setattr(voucher_lists, "upload_codes", _quoting_its_inputs)
    caplog.set_level(logging.DEBUG)
    calls = [
        ("/v1/vouchers/validate", {"json": {"code": VOUCHER_CODE}}),
        (f"/v1/voucher-lists/{listed['id']}/redemptions", {"json": {"codes": [PARTNER_CODE]}}),
        (
            f"/v1/voucher-lists/{listed['id']}/codes",
            {
                "content": f"code,description\n{PARTNER_CODE},Coffee\n".encode(),
                "headers": {**auth(key), "Content-Type": "text/csv"},
            },
        ),
    ]
    for path, kwargs in calls:
        kwargs.setdefault("headers", auth(key))
        started = time.perf_counter()
        answer = api.post(path, **kwargs)
        elapsed = time.perf_counter() - started
        assert answer.status_code == 500, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["code"] == "internal_error"
        assert body["request_id"] == answer.headers["X-Request-Id"]
        assert elapsed < 1.0
    logged = _everything_logged(caplog, capsys)
    assert "unexpected error" in logged  # the errors were logged ...
    assert "boom" in logged
    secret = container.settings.code_secret
    assert secret is not None
    for plain in (key, VOUCHER_CODE, PARTNER_CODE, secret.get_secret_value(), key[4:]):
        assert plain not in logged  # ... without what they quoted
    unexpected = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert len(unexpected) == len(calls)  # one record each, not one more from the server


def test_every_problem_names_its_request_id_and_a_sane_one_is_kept(
    api: TestClient, tenant: tuple[uuid.UUID, str]
) -> None:
    answer = api.get("/v1/vouchers/12345", headers={**auth(tenant[1]), "X-Request-Id": "abc-123"})
    assert answer.status_code == 404
    assert answer.headers["X-Request-Id"] == "abc-123"
    assert answer.json()["request_id"] == "abc-123"
    for odd in ("a" * 200, "tsk_" + "x" * 40, "two words"):
        answer = api.get("/v1/vouchers/12345", headers={**auth(tenant[1]), "X-Request-Id": odd})
        assert answer.headers["X-Request-Id"] != odd
        assert answer.json()["request_id"] == answer.headers["X-Request-Id"]


def test_log_json_gives_json_lines_and_warning_silences_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        logs.configure(level="WARNING", json=True, secrets=["a-server-secret"])
        log = structlog.get_logger("tessera.test")
        log.info("an info line")
        log.warning("a warning line", detail="with a-server-secret and Bearer tsk_abcdefgh")
        try:
            raise ValueError("failed")
        except ValueError:
            log.exception("an error line")
        logs.shared_handler().flush()
        err = capsys.readouterr().err
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        events = [line["event"] for line in lines]
        assert "an info line" not in events
        assert "a warning line" in events and "an error line" in events
        warning = next(line for line in lines if line["event"] == "a warning line")
        assert "a-server-secret" not in warning["detail"]
        assert "tsk_abcdefgh" not in warning["detail"]
        error = next(line for line in lines if line["event"] == "an error line")
        assert "ValueError: failed" in error["exception"]
    finally:
        logs.configure()


# `tessera serve` (gunicorn, two workers) with one use case broken the worst way: its error
# quotes its arguments. The patch is made before gunicorn forks, so every worker has it.
BROKEN_SERVE = """
import sys
from tessera.services import redemption

def broken(*args, **kwargs):
    raise RuntimeError(f"boom: {args!r} {kwargs!r}")

redemption.validate = broken
from tessera.entrypoints.cli import app
app(sys.argv[1:], prog_name="tessera")
"""


def test_serve_logs_no_key_no_code_and_answers_an_error_at_once(
    database_url: str,
    tenant: tuple[uuid.UUID, str],
    tmp_path: Path,
) -> None:
    port = _free_port()
    script = tmp_path / "broken_serve.py"
    script.write_text(BROKEN_SERVE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "PROMETHEUS_"))}
    env |= {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_CODE_SECRET": TEST_CODE_SECRET.get_secret_value(),
        "TESSERA_LIST_KEY": TEST_LIST_KEY,
        "TESSERA_LOG_JSON": "true",
        "TESSERA_DISPATCHER_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, str(script), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the server did not start"
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(4):
                started = time.perf_counter()
                answer = client.post(
                    "/v1/vouchers/validate",
                    json={"code": VOUCHER_CODE, "subscriber": PARTNER_CODE},
                    headers=auth(tenant[1]),
                )
                elapsed = time.perf_counter() - started
                assert answer.status_code == 500, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["request_id"] == answer.headers["X-Request-Id"]
                assert elapsed < 1.0
    finally:
        process.terminate()
        try:
            out, err = process.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    logged = (out + err).decode()
    lines = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines].count("unexpected error") == 4
    assert "Booting worker" in logged  # gunicorn's own lines come through the same handler
    for plain in (tenant[1], tenant[1][4:], VOUCHER_CODE, PARTNER_CODE):
        assert plain not in logged
    assert TEST_CODE_SECRET.get_secret_value() not in logged
    assert TEST_LIST_KEY not in logged


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Message:
    """What the consumer reads of a JetStream message."""

    def __init__(self, subject: str, data: bytes) -> None:
        self.subject, self.data, self.terminated = subject, data, False

    async def term(self) -> None:
        self.terminated = True


def test_a_rejected_event_message_is_logged_without_the_values_it_quoted(
    container: Container,
    tenant: tuple[uuid.UUID, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = "QWRT-HJKL-8842"  # no Z: the consumer reads a Z in occurred_at as +00:00
    event = {"id": "e-1", "subscriber": "2547", "type": "topup", "occurred_at": code}
    message = _Message(f"tessera.events.{tenant[0]}", json.dumps(event).encode())
    caplog.set_level(logging.DEBUG)
    consumer = EventConsumer(container, durable="unused")
    assert asyncio.run(consumer.store([message])) == []  # type: ignore[list-item]
    assert message.terminated and consumer.stats.rejected == 1
    lines = [logs.shared_handler().format(r) for r in caplog.records]
    assert any("event message rejected" in line for line in lines)
    assert not any(code in line for line in lines)
