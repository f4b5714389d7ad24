"""Prometheus metrics of the sink, registered on a registry the caller chooses.

A registry per sink (rather than prometheus-client's global one) lets tests run several sinks
in one process; the CLI passes the global registry and serves it on `sink_metrics_port`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class SinkMetrics:
    """Rows written, batch sizes, insert latency, lag, retries, duplicates skipped."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rows_written = Counter(
            "interactions_sink_rows_written",
            "Rows inserted into ClickHouse, by table (sink_rejects = bad messages kept).",
            ["table"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "interactions_sink_batch_rows",
            "Kafka messages per flushed batch.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.insert_seconds = Histogram(
            "interactions_sink_insert_seconds",
            "Time to insert one batch (all tables), retries excluded.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "interactions_sink_insert_retries",
            "Failed insert attempts that were retried (ClickHouse down or busy).",
            registry=r,
        )
        self.suppressed = Counter(
            "interactions_sink_suppressed_total",
            "Events of forgotten users dropped before insert (GDPR tombstones).",
            registry=r,
        )
        self.duplicates_skipped = Counter(
            "interactions_sink_duplicates_skipped",
            "Messages not inserted because an earlier run already had (crash before commit).",
            registry=r,
        )
        self.lag = Gauge(
            "interactions_sink_lag_messages",
            "Messages between the committed offset and the end of the partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.buffered = Gauge(
            "interactions_sink_buffered_messages",
            "Messages read from Kafka and not yet inserted.",
            registry=r,
        )
