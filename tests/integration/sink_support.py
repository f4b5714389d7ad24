"""Helpers for the ClickHouse sink tests: settings, producing, running the sink, fault injection."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from producers import InteractionProducer
from schemas.events import InteractionEvent, SearchEvent
from schemas.settings import Settings
from sinks import BackendError, ClickHouseBackend, ClickHouseSink, SinkStats, open_backend
from sinks._backend import BackendKind, Params
from sinks.ddl import INTERACTIONS_TABLE

SINK_TIMEOUT_S = 90.0


def sink_settings(base: Settings, **overrides: Any) -> Settings:
    """The test's unique topics and chDB folder, plus its own consumer group and small batches."""
    updates: dict[str, Any] = {
        "sink_group_id": f"sink-test-{uuid.uuid4().hex[:10]}",
        "sink_batch_max_rows": 2_000,
        "sink_batch_max_s": 0.3,
        "sink_retry_initial_s": 0.2,
        "sink_retry_max_s": 1.0,
        "chdb_lock_timeout_s": 20.0,
        "sink_decode_workers": 1,  # lean: one process per sink is enough to test the path
    }
    return Settings(**base.model_dump() | updates | overrides)


@contextmanager
def backend_for(settings: Settings) -> Iterator[ClickHouseBackend]:
    """A backend closed afterwards (chDB allows one open folder per process)."""
    backend = open_backend(settings)
    try:
        yield backend
    finally:
        backend.close()


def interaction(i: int, **fields: Any) -> InteractionEvent:
    base: dict[str, Any] = {
        "feature_id": f"doc_{i % 97}",
        "interaction_type": ["click", "long_view"] if i % 3 == 0 else ["click"],
        "position": i % 20,
        "metadata": {"query": f"query {i % 13}", "duration_ms": 100 + i % 5000, "device": "m"},
        "user_id": f"user_{i % 31}",
        "session_id": f"sess_{i % 57}",
        "retriever_id": "ret_1",
        "query_id": f"q{i % 101}",
    }
    return InteractionEvent(**base | fields)


def produce(settings: Settings, events: Sequence[InteractionEvent | SearchEvent]) -> None:
    """Send events with the SDK and wait until Kafka acknowledged every one."""
    interactions = [e for e in events if isinstance(e, InteractionEvent)]
    searches = [e for e in events if isinstance(e, SearchEvent)]
    with InteractionProducer(settings) as producer:
        if interactions:
            result = producer.send_many(interactions, timeout=60)
            assert result.ok, (result.invalid, result.failed[:3])
        if searches:
            result = producer.send_many(searches, kind=SearchEvent, timeout=60)
            assert result.ok, (result.invalid, result.failed[:3])


def run_sink(
    settings: Settings,
    backend: ClickHouseBackend,
    done: Callable[[SinkStats], bool],
    *,
    timeout: float = SINK_TIMEOUT_S,
) -> SinkStats:
    """Run the sink in this thread until `done(stats)` or the timeout (bounded either way)."""
    deadline = time.monotonic() + timeout
    sink = ClickHouseSink(settings, backend)
    return sink.run(until=lambda stats: done(stats) or time.monotonic() > deadline)


def stored_ids(backend: ClickHouseBackend, table: str = INTERACTIONS_TABLE) -> list[str]:
    rows = backend.query_arrow(f"SELECT toString(event_id) AS id FROM {table} ORDER BY id")
    return [str(x) for x in rows.column("id").to_pylist()]


def checksum(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


class FlakyBackend:
    """A real backend that fails every insert until `heal()` or a deadline: an outage.

    `partial=True` makes the first failing insert write half its rows before failing, the
    worst case for a retry (some of the batch stored, the sink told it failed).
    """

    def __init__(self, inner: ClickHouseBackend, *, partial: bool = False) -> None:
        self.inner = inner
        self.fail_until = 0.0
        self.partial = partial
        self.failures = 0

    def fail_for(self, seconds: float) -> None:
        self.fail_until = time.monotonic() + seconds

    def heal(self) -> None:
        self.fail_until = 0.0

    @property
    def failing(self) -> bool:
        return time.monotonic() < self.fail_until

    @property
    def kind(self) -> BackendKind:
        return self.inner.kind

    @property
    def database(self) -> str:
        return self.inner.database

    def command(self, sql: str, params: Params | None = None) -> None:
        self.inner.command(sql, params)

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        return self.inner.query(sql, params)

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        return self.inner.query_arrow(sql, params)

    def query_arrow_batches(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        return self.inner.query_arrow_batches(sql, params, batch_rows=batch_rows)

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        if self.failing:
            self.failures += 1
            if self.partial and self.failures == 1 and len(rows) > 1:
                self.inner.insert(table, columns, rows[: len(rows) // 2])
            raise BackendError("injected outage: ClickHouse unavailable")
        return self.inner.insert(
            table, columns, rows, dedup_token=dedup_token, optimize_on_insert=optimize_on_insert
        )

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        if self.failing:
            self.failures += 1
            if self.partial and self.failures == 1 and data.num_rows > 1:
                self.inner.insert_arrow(table, data.slice(0, data.num_rows // 2))
            raise BackendError("injected outage: ClickHouse unavailable")
        return self.inner.insert_arrow(
            table, data, dedup_token=dedup_token, optimize_on_insert=optimize_on_insert
        )

    def release(self) -> None:
        self.inner.release()

    def others_waiting(self) -> bool:
        return self.inner.others_waiting()

    def close(self) -> None:
        self.inner.close()
