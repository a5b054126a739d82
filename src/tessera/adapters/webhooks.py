"""Posting signed webhooks.

The signature header is ``Tessera-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 of ``f"{t}.{body}"`` under the endpoint's secret. A receiver recomputes it and
refuses old timestamps, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

import httpx

SIGNATURE_HEADER = "Tessera-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """What a receiver does (also used by the tests)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass(frozen=True, slots=True)
class PostResult:
    status_code: int | None
    error: str | None  # None: delivered (a 2xx answer)
    duration_ms: int


class WebhookSender:
    def __init__(self, timeout_seconds: float) -> None:
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, trust_env=False
        )

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        started = time.perf_counter()
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            elapsed = int((time.perf_counter() - started) * 1000)
            return PostResult(None, f"{type(exc).__name__}: {exc}"[:500], elapsed)
        elapsed = int((time.perf_counter() - started) * 1000)
        if 200 <= response.status_code < 300:
            return PostResult(response.status_code, None, elapsed)
        snippet = response.text[:200].replace("\n", " ")
        return PostResult(response.status_code, f"HTTP {response.status_code}: {snippet}", elapsed)

    def close(self) -> None:
        self.client.close()
