"""Prometheus metrics: requests and latency by route template (not by raw path, whose ids
would explode the label space). A plain ASGI middleware keeps the hot path cheap."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tessera_http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "HTTP request latency by method and route.",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.redemption_path = Counter(
            "tessera_redemption_path_total",
            "Point-of-sale uses by code by the path that wrote them: quick (the batched "
            "statement) or transactional, with the reason the quick path declined.",
            ["path", "reason"],
            registry=self.registry,
        )
        self.transactions_retried = Counter(
            "tessera_transactions_retried_total",
            "Voucher operations run again because the database rolled their transaction back "
            "for a deadlock or a serialization failure.",
            registry=self.registry,
        )
        self.condition_failures = Counter(
            "tessera_condition_failures_total",
            "Campaign conditions that failed while running (each counted as not matched).",
            registry=self.registry,
        )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
