"""Prometheus metrics of the HTTP service, in a registry of its own.

A registry per app (not the global one) lets tests and benchmarks build several apps in one
process; `/metrics` serves it together with the process collector.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_BATCH_BUCKETS: Final = (1, 2, 5, 10, 50, 100, 250, 500, 1000)


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "interactions_http_requests",
            "HTTP requests by route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "interactions_http_request_duration_seconds",
            "Time from request start to the last response byte, by route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "interactions_http_events",
            "Events received over HTTP by kind and outcome (accepted, invalid, not_delivered).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "interactions_http_batch_events",
            "Events per POST.",
            ["kind"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "interactions_http_kafka_ack_seconds",
            "Time from handing a batch to the producer to Kafka acknowledging all of it.",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )


class MetricsMiddleware:
    """Counts and times every request by its route template (bounded label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
