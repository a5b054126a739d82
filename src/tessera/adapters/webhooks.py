"""Posting signed webhooks.

The signature header is ``Tessera-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 of ``f"{t}.{body}"`` under the endpoint's secret. A receiver recomputes it and
refuses old timestamps, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from tessera.domain.errors import Invalid
from tessera.domain.notifications import IpAddress, IpNetwork, webhook_target_refusal

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


Resolver = Callable[[str, int], list[IpAddress]]


def resolve(host: str, port: int) -> list[IpAddress]:
    """Every address ``host`` resolves to (an address literal is itself); [] when none."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses: list[IpAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True, slots=True)
class Target:
    """Where one delivery goes: the URL with its host replaced by the checked address (so a
    second lookup cannot answer differently), and the host to name in ``Host`` and TLS."""

    url: str
    host_header: str
    tls_name: str | None


class WebhookTargets:
    """Which URLs may receive webhooks (``domain.notifications.webhook_target_refusal``),
    checked when an endpoint is saved and again, after resolution, before each delivery."""

    def __init__(self, allowed: Sequence[IpNetwork], resolver: Resolver = resolve) -> None:
        self.allowed = tuple(allowed)
        self.resolver = resolver

    def check(self, url: str) -> str:
        """``url`` if it may be saved; else ``Invalid`` on the field ``url`` with the reason."""
        parsed, addresses = self._lookup(url)
        refusal = webhook_target_refusal(parsed.scheme, parsed.host, addresses, self.allowed)
        if refusal is not None:
            raise Invalid("url", refusal)
        return url

    def target(self, url: str) -> Target | str:
        """The pinned target of a delivery, or why it is refused."""
        try:
            parsed, addresses = self._lookup(url)
        except Invalid as exc:
            return exc.reason
        refusal = webhook_target_refusal(parsed.scheme, parsed.host, addresses, self.allowed)
        if refusal is not None:
            return refusal
        default_port = 443 if parsed.scheme == "https" else 80
        host_header = parsed.host if parsed.port in (None, default_port) else parsed.netloc.decode()
        pinned = parsed.copy_with(host=str(addresses[0]))
        tls_name = parsed.host if parsed.scheme == "https" else None
        return Target(str(pinned), host_header, tls_name)

    def _lookup(self, url: str) -> tuple[httpx.URL, list[IpAddress]]:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise Invalid("url", f"is not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise Invalid("url", "must be an http(s) URL with a host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        return parsed, self.resolver(parsed.host, port)


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

    def post(self, target: Target, body: bytes, headers: dict[str, str]) -> PostResult:
        started = time.perf_counter()
        extensions = {} if target.tls_name is None else {"sni_hostname": target.tls_name}
        try:
            response = self.client.post(
                target.url,
                content=body,
                headers={**headers, "Host": target.host_header},
                extensions=extensions,
            )
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
