"""What the popularity agent does with one batch, with Faust left outside.

The agent hands over plain records; this applies them (retrying while Redis is away), sends
bad ones to the dead-letter topic and waits for Kafka's acknowledgement, and counts outcomes.
Only when `process` returns may the agent let Faust ack (and later commit) the batch:

- a batch interrupted by shutdown is finished first (the work is shielded from cancellation);
- Redis outages are waited out with capped exponential backoff, never skipped;
- anything else is a bug: `on_fatal` ends the process *without* committing, so the batch is
  redelivered after restart (Faust would otherwise ack the batch on the way out, and commit it
  on shutdown, losing it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from schemas.suppression import NO_TOMBSTONES, Tombstones, TombstoneSource
from schemas.topics import (
    DLQ_HEADER_COMPONENT,
    DLQ_HEADER_REASON,
    DLQ_HEADER_SOURCE_OFFSET,
    DLQ_HEADER_SOURCE_PARTITION,
    DLQ_HEADER_SOURCE_TOPIC,
)
from stream_processors._metrics import WorkerMetrics
from stream_processors._plan import KafkaRecord, Planner, Rejected
from stream_processors._store import PopularityStore
from stream_processors._windows import Clock, now_ms
from stream_processors.connection import CLUSTER_TRANSIENT

log = logging.getLogger("stream_processors.popularity")

COMPONENT: Final = b"popularity-worker"
_TRANSIENT: Final = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    OSError,
    *CLUSTER_TRANSIENT,
)
_MAX_HEADER_REASON: Final = 1_000

DeadLetterSend = Callable[[bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[Any]]
"""(key, value, headers) -> awaitable of Kafka's acknowledgement, once queued."""


def dead_letter_headers(rejected: Rejected) -> list[tuple[str, bytes]]:
    record = rejected.record
    return [
        (DLQ_HEADER_REASON, rejected.reason[:_MAX_HEADER_REASON].encode()),
        (DLQ_HEADER_SOURCE_TOPIC, record.topic.encode()),
        (DLQ_HEADER_SOURCE_PARTITION, str(record.partition).encode()),
        (DLQ_HEADER_SOURCE_OFFSET, str(record.offset).encode()),
        (DLQ_HEADER_COMPONENT, COMPONENT),
    ]


class PopularityRuntime:
    def __init__(
        self,
        store: PopularityStore,
        planner: Planner,
        metrics: WorkerMetrics,
        *,
        clock: Clock,
        dead_letter: DeadLetterSend,
        on_fatal: Callable[[BaseException], None],
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        tombstones: TombstoneSource | None = None,
    ) -> None:
        self._store = store
        self._planner = planner
        self.metrics = metrics
        self._clock = clock
        self._dead_letter = dead_letter
        self._on_fatal = on_fatal
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._lock = asyncio.Lock()
        self._tombstones = tombstones
        self._acked = -1
        self.last_offsets: dict[tuple[str, int], int] = {}

    async def process(self, records: Sequence[KafkaRecord]) -> None:
        """Apply one batch completely before returning, even when cancelled meanwhile."""
        task = asyncio.ensure_future(self._guarded(self._process(records)))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def sweep(self, topic: str, partitions: Iterable[int]) -> int:
        """Sweep aged buckets of the partitions this worker owns (same lock as batches)."""
        owned = sorted(partitions)
        if not owned:
            return 0
        task = asyncio.ensure_future(self._guarded(self._sweep(topic, owned)))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    def observe_lag(self, highwaters: dict[tuple[str, int], int]) -> None:
        """Lag = messages after the last applied one; the highwater is the next offset."""
        for (topic, partition), highwater in highwaters.items():
            last = self.last_offsets.get((topic, partition))
            if last is not None:
                lag = max(0, highwater - last - 1)
                self.metrics.lag.labels(topic, str(partition)).set(lag)

    def forget_published(self) -> None:
        self._store.forget_published()

    async def refresh_tombstones(self) -> None:
        """Idle or not, acknowledge the newest tombstones within a refresh interval: taken
        under the batch lock, so no batch filtered with an older version is in flight."""
        if self._tombstones is None:
            return
        async with self._lock:
            current = await self._retrying(self._current_tombstones)
            await self._ack(current.version)

    # -- internals -------------------------------------------------------------------------
    async def _guarded(self, work: Awaitable[Any]) -> Any:
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.critical("popularity worker cannot go on: %r; exiting without commit", exc)
            self._on_fatal(exc)
            raise

    async def retire(self) -> None:
        """Stopping: a deletion need not wait for this worker (its last batch is applied)."""
        if self._tombstones is not None:
            async with self._lock:
                await asyncio.to_thread(self._tombstones.retire)

    async def _current_tombstones(self) -> Tombstones:
        if self._tombstones is None:
            return NO_TOMBSTONES
        return await asyncio.to_thread(self._tombstones.current)

    async def _ack(self, version: int) -> None:
        """Every batch applied from now on is filtered with >= version (erasure waits)."""
        if self._tombstones is not None and version > self._acked:
            await asyncio.to_thread(self._tombstones.ack, version)
            self._acked = version

    async def _process(self, records: Sequence[KafkaRecord]) -> None:
        started = time.perf_counter()
        async with self._lock:
            tombstones = await self._retrying(self._current_tombstones)
            plan = self._planner.plan(records, now_ms(self._clock), tombstones)
            acks = [
                await self._dead_letter(r.record.key, r.record.value or b"", dead_letter_headers(r))
                for r in plan.rejected
            ]
            await self._retrying(lambda: self._store.mark_dropped(plan))
            result, changes = await self._retrying(lambda: self._store.run_scripts(plan))
            await self._retrying(lambda: self._store.publish(changes))
            for ack in acks:
                await ack
            await self._ack(tombstones.version)
            if plan.suppressed and self._tombstones is not None:
                await asyncio.to_thread(self._tombstones.count_dropped, dict(plan.suppressed))
        m = self.metrics
        m.suppressed.inc(sum(plan.suppressed.values()))
        m.applied.inc(result.applied)
        m.duplicates.labels("offset").inc(result.replayed)
        m.duplicates.labels("event_id").inc(result.duplicates)
        m.late.inc(plan.outcomes["late"])
        m.future.inc(plan.outcomes["future"])
        m.rejected.inc(len(plan.rejected))
        for position, offset in plan.last_offsets.items():
            self.last_offsets[position] = max(offset, self.last_offsets.get(position, -1))
        for reject in plan.rejected:
            log.warning(
                "dead-lettered %s[%d]@%d: %s",
                reject.record.topic,
                reject.record.partition,
                reject.record.offset,
                reject.reason,
            )
        m.batch_seconds.observe(time.perf_counter() - started)

    async def _sweep(self, topic: str, partitions: list[int]) -> int:
        async with self._lock:
            swept: int = await self._retrying(lambda: self._store.sweep_due(topic, partitions))
        self.metrics.swept.inc(swept)
        return swept

    async def _retrying(self, attempt: Callable[[], Awaitable[Any]]) -> Any:
        delay = self._retry_initial_s
        while True:
            try:
                return await attempt()
            except _TRANSIENT as exc:
                self.metrics.redis_retries.inc()
                log.warning("Redis unavailable (%r); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
