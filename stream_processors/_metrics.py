"""Prometheus metrics of the popularity worker, in a registry of their own.

A private registry (not the process-wide default) lets tests and tools build several workers
in one process; `serve` exposes it over HTTP for Prometheus.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.applied = Counter(
            "popularity_events_applied_total", "Events counted into Redis.", registry=r
        )
        self.duplicates = Counter(
            "popularity_duplicates_skipped_total",
            "Events not counted again: reason=offset (Kafka redelivery, at or below the "
            "watermark) or event_id (client resend within the idempotency window).",
            ["reason"],
            registry=r,
        )
        self.late = Counter(
            "popularity_late_events_total",
            "Events older than the longest window: not counted (history still kept).",
            registry=r,
        )
        self.future = Counter(
            "popularity_future_events_total",
            "Events further in the future than max_future_skew_s: not applied.",
            registry=r,
        )
        self.rejected = Counter(
            "popularity_rejected_total",
            "Messages that did not decode or validate, sent to the dead-letter topic.",
            registry=r,
        )
        self.suppressed = Counter(
            "popularity_suppressed_total",
            "Events of forgotten users dropped (event time at or before their tombstone).",
            registry=r,
        )
        self.lag = Gauge(
            "popularity_consumer_lag",
            "Messages in the partition after the last one applied.",
            ["topic", "partition"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "popularity_batch_seconds",
            "Time to apply one batch (decode, Redis, dead letters).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.swept = Counter(
            "popularity_features_swept_total",
            "Features whose aged hour buckets were swept out of the window counts.",
            registry=r,
        )
        self.redis_retries = Counter(
            "popularity_redis_retries_total",
            "Batches retried because Redis did not answer.",
            registry=r,
        )

    def serve(self, host: str, port: int) -> int:
        """Expose /metrics; returns the bound port (useful with port 0)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)
