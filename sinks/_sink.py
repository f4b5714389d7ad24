"""The Kafka -> ClickHouse sink: batches, exactly-once inserts, retries, bounded memory.

1. Read messages from both event topics (one consumer group; partitions are the unit of
   parallelism, so more sink processes in the group share the load on a server backend).
2. Hand each poll's messages, per topic, to the decode workers (sinks._workers: processes,
   since validation is CPU-bound Python), which turn every message into its table's row or
   a reject row (sinks._decode) and return Arrow blocks; the sink reads on meanwhile.
3. When the batch holds `sink_batch_max_rows` messages or its oldest is `sink_batch_max_s`
   old: skip what an earlier run already stored (sinks._guard) and hand the batch to the
   insert thread, which writes each table's rows as one Arrow block with a deduplication
   token. Offsets are committed only when the insert returned. chDB releases the GIL while
   it inserts, so the next batch is read meanwhile; at most two batches are in memory.
4. If ClickHouse fails: pause every partition (nothing more is fetched), keep polling so the
   group keeps us, wait with exponential backoff, re-check and retry the same batch.
5. chDB: the folder stays open between batches; when another process (CLI, HTTP service)
   waits for it, the sink closes it after the current insert (`sink_release_chdb`).

A crash anywhere loses nothing (offsets trail the inserts) and duplicates nothing (the guard
skips rows already stored).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas.errors import BackendError, ServiceUnavailableError
from schemas.settings import Settings
from schemas.suppression import TombstoneSource
from schemas.topics import Topics
from sinks._arrow import table_schema
from sinks._backend import ClickHouseBackend
from sinks._batch import Batch
from sinks._decode import MessageChunk
from sinks._guard import OffsetGuard
from sinks._metrics import SinkMetrics
from sinks._migrate import migrate
from sinks._workers import DecodePool
from sinks.ddl import TABLE_COLUMNS

log = logging.getLogger("sinks.sink")

_CONSUME_CHUNK = 5_000
_MAX_POLL_WAIT_S = 0.5
_WAITERS_CHECK_S = 0.2
_INSERT_POLL_S = 0.02
_LAG_INTERVAL_S = 5.0
_SUMMARY_INTERVAL_S = 30.0
_STARTUP_TIMEOUT_S = 15.0


@dataclass(slots=True)
class SinkStats:
    """What one `run` did; also what `--json` prints when the sink stops."""

    messages: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    retries: int = 0
    duplicates_skipped: int = 0
    suppressed: int = 0
    """Messages of forgotten users dropped (GDPR tombstones)."""
    revoked_dropped: int = 0
    started_at: float | None = None
    """Wall-clock time (epoch s) the sink was subscribed and began to consume."""
    first_read_at: float | None = None
    """Wall-clock time (epoch s) the first message was read; None before that."""
    last_commit_at: float | None = None
    last_read_at: float | None = None

    @property
    def rows_total(self) -> int:
        return sum(self.rows_written.values())

    @property
    def rows_per_s(self) -> float | None:
        """Messages stored per second between the first read and the last commit."""
        if self.first_read_at is None or self.last_commit_at is None:
            return None
        return self.messages / max(self.last_commit_at - self.first_read_at, 1e-9)

    def to_json(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "rows_written": self.rows_written,
            "batches": self.batches,
            "retries": self.retries,
            "duplicates_skipped": self.duplicates_skipped,
            "suppressed": self.suppressed,
            "first_read_at": self.first_read_at,
            "last_commit_at": self.last_commit_at,
            "rows_per_s": self.rows_per_s,
        }


def consumer_config(settings: Settings, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka settings: manual commits after inserts, a bounded fetch queue."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "group.id": settings.sink.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "queued.max.messages.kbytes": 32_768,
        "fetch.max.bytes": 16_777_216,
        "max.partition.fetch.bytes": 4_194_304,
        "max.poll.interval.ms": 300_000,
        "session.timeout.ms": int(settings.sink.session_timeout_s * 1000),
    }
    config.update(overrides or {})
    return config


class ClickHouseSink:
    """Consume both event topics into ClickHouse; see the module docstring for the guarantees.

    `backend` is any ClickHouseBackend (a fault-injecting wrapper in tests); `clock` is
    injectable for the batch-age rule.
    """

    def __init__(
        self,
        settings: Settings,
        backend: ClickHouseBackend,
        *,
        metrics: SinkMetrics | None = None,
        consumer_overrides: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        tombstones: TombstoneSource | None = None,
    ) -> None:
        self._settings = settings
        self._backend = backend
        self._metrics = metrics or SinkMetrics()
        self._clock = clock
        self._topics = Topics.from_settings(settings)
        self._event_topics = (self._topics.interactions, self._topics.searches)
        self._decoders: DecodePool | None = None
        self._guard = OffsetGuard(backend)
        self._consumer = Consumer(consumer_config(settings, consumer_overrides))
        self._batch = Batch(clock())
        self._carry: list[Message] = []
        self._paused = False
        self._stop = threading.Event()
        self._until: Callable[[SinkStats], bool] | None = None
        self._stats = SinkStats()
        self._last_lag_at = 0.0
        self._last_summary_at = clock()
        self._lag_labels: set[tuple[str, str]] = set()
        self._committed: dict[tuple[str, int], int] = {}
        self._inserter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-insert")
        self._inflight: tuple[Batch, Future[dict[str, int]]] | None = None
        self._sealed: Batch | None = None
        self._retrying: Batch | None = None
        self._let_others_in = settings.sink.release_chdb and backend.kind == "chdb"
        self._waiters_checked_at = 0.0
        self._tombstones = tombstones

    @property
    def stats(self) -> SinkStats:
        return self._stats

    def stop(self) -> None:
        """Ask `run` to insert what it holds, commit, and return (safe from signal handlers)."""
        self._stop.set()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Fail loudly now rather than later: ClickHouse tables, the broker, the topics,
        and the tombstones of forgotten users (nothing is written before they are known)."""
        if self._tombstones is not None:
            self._tombstones.load()
        migrate(self._backend, retention_days=self._settings.clickhouse.retention_days)
        schemas = {
            table: table_schema(self._backend, table, columns)
            for table, columns in TABLE_COLUMNS.items()
        }
        if self._let_others_in:
            self._backend.release()
        try:
            metadata = self._consumer.list_topics(timeout=_STARTUP_TIMEOUT_S)
        except KafkaException as exc:
            raise RuntimeError(
                f"Kafka at {self._settings.kafka.bootstrap_servers} does not answer: {exc}"
            ) from exc
        missing = [t for t in self._event_topics if t not in metadata.topics]
        if missing:
            raise RuntimeError(
                f"topic(s) {', '.join(missing)} do not exist: create them (`interactions stack "
                "up` does) or set TOPIC_INTERACTIONS / TOPIC_SEARCHES"
            )
        context = {"max_future_skew_s": self._settings.events.max_future_skew_s}
        self._decoders = DecodePool(
            self._topics,
            context,
            schemas,
            workers=self._settings.sink.decode_workers,
            gc_young_threshold=self._settings.sink.gc_young_threshold,
        )
        self._consumer.subscribe(
            list(self._event_topics), on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    def run(self, until: Callable[[SinkStats], bool] | None = None) -> SinkStats:
        """Consume until `stop()`, or until `until(stats)` is true (checked after every poll),
        then insert and commit what is buffered.

        Returns the statistics of this run. The consumer is closed on return.
        """
        self._until = until
        try:
            self.start()
            self._stats.started_at = time.time()
            while not self._should_stop():
                self._step()
            self._flush(final=True)
        finally:
            self._inserter.shutdown(wait=True)
            self._consumer.close()
            if self._tombstones is not None:
                self._tombstones.retire()
            if self._decoders is not None:
                self._decoders.close()
        return self._stats

    # -- the loop --------------------------------------------------------------------------
    def _should_stop(self) -> bool:
        if self._stop.is_set():
            return True
        return self._until is not None and self._until(self._stats)

    def _step(self) -> None:
        batch = self._batch
        settings = self._settings
        room = settings.sink.batch_max_rows - batch.messages
        # While an insert runs, poll briefly so that its offsets are committed right after it
        # returns (less to re-check after a crash, lag that is not overstated).
        wait = _MAX_POLL_WAIT_S if self._inflight is None else _INSERT_POLL_S
        if not batch.empty:
            age = self._clock() - batch.started_at
            wait = max(0.0, min(wait, settings.sink.batch_max_s - age))
        if room > 0 and (wait > 0 or batch.empty):
            messages = self._carry or self._consumer.consume(
                num_messages=min(_CONSUME_CHUNK, room), timeout=wait
            )
            self._carry = []
            self._add(messages)
        if self._batch_due():
            self._flush()
        elif self._inflight is not None and self._inflight[1].done():
            self._settle()  # commit promptly (or start retrying) even when no batch is due
        self._maybe_let_others_in()
        self._maybe_report_lag()
        self._acknowledge_idle()

    def _batch_due(self) -> bool:
        batch = self._batch
        if batch.empty:
            return False
        if batch.messages >= self._settings.sink.batch_max_rows:
            return True
        return self._clock() - batch.started_at >= self._settings.sink.batch_max_s

    def _add(self, messages: list[Message]) -> None:
        """Split a poll's messages by topic and hand each part to the decoders."""
        if not messages:
            return
        now = time.time()
        self._stats.last_read_at = now
        if self._stats.first_read_at is None:
            self._stats.first_read_at = now
        chunks: dict[str, MessageChunk] = {}
        for msg in messages:
            err = msg.error()
            if err is not None:
                self._kafka_error(err)
                continue
            topic = msg.topic()
            chunk = chunks.get(topic)  # type: ignore[arg-type]
            if chunk is None:
                if topic not in self._event_topics:
                    continue
                chunk = chunks[topic] = MessageChunk(topic)
            chunk.partitions.append(msg.partition())  # type: ignore[arg-type]
            chunk.offsets.append(msg.offset())  # type: ignore[arg-type]
            chunk.keys.append(msg.key())
            chunk.values.append(msg.value())
        if not chunks:
            return
        batch = self._batch
        if batch.empty:
            batch.started_at = self._clock()
        assert self._decoders is not None
        for chunk in chunks.values():
            batch.add(self._decoders.submit(chunk), len(chunk))
        self._metrics.buffered.set(batch.messages)

    def _kafka_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise KafkaException(err)
        log.warning("kafka: %s", err.str())

    # -- inserting -------------------------------------------------------------------------
    def _flush(self, *, final: bool = False) -> None:
        """Hand the batch to the insert thread once the previous batch is committed.

        chDB and the HTTP driver release the GIL while they work, so the next batch is read
        and decoded while this one is inserted; at most two batches are in memory.
        """
        batch = self._batch
        self._batch = Batch(self._clock())
        self._metrics.buffered.set(0)
        self._sealed = batch  # a rebalance while we wait below must see it (_on_revoke)
        try:
            batch.resolve()  # the decoders finish while the previous insert runs
            if not self._settle():
                return  # stopping during an outage: nothing more is committed
        finally:
            self._sealed = None
        if not batch.empty:
            try:
                self._prepare(batch, recheck=False)
            except ServiceUnavailableError as exc:
                self._retry(batch, exc)
            else:
                self._inflight = (batch, self._inserter.submit(self._write, batch))
        if final:
            self._settle()
            self._backend.release()

    def _settle(self) -> bool:
        """Wait for the batch being inserted; commit it, or retry it until it is in.

        False when the sink was asked to stop before the batch got in.
        """
        if self._inflight is None:
            return True
        batch, future = self._inflight
        self._inflight = None
        try:
            written = future.result()
        except BackendError as exc:
            return self._retry(batch, exc)
        self._done(batch, written)
        return True

    def _retry(self, batch: Batch, error: ServiceUnavailableError) -> bool:
        """Insert `batch` again and again with backoff, consumption paused meanwhile."""
        delay = self._settings.sink.retry_initial_s
        self._retrying = batch
        try:
            return self._retry_loop(batch, error, delay)
        finally:
            self._retrying = None

    def _retry_loop(self, batch: Batch, error: ServiceUnavailableError, delay: float) -> bool:
        while True:
            self._stats.retries += 1
            self._metrics.retries.inc()
            log.warning("insert failed, retrying in %.1f s: %s", delay, error)
            self._pause()
            if not self._wait(delay):
                return False  # not committed: the next run reads these messages again
            if batch.empty:  # every partition of the batch went to another consumer
                self._resume()
                return True
            try:
                self._prepare(batch, recheck=True)
                written = self._write(batch)
                break
            except ServiceUnavailableError as exc:
                error = exc
                delay = min(delay * 2, self._settings.sink.retry_max_s)
        self._done(batch, written)
        self._resume()
        return True

    def _prepare(self, batch: Batch, *, recheck: bool) -> None:
        """Before every insert attempt: skip what is stored, drop forgotten users' rows
        with the newest tombstones (raises RedisUnavailableError once they are too old)."""
        self._skip_stored(batch, recheck=recheck)
        if self._tombstones is None:
            return
        dropped = batch.suppress(self._tombstones.current())
        if dropped:
            total = sum(dropped.values())
            self._stats.suppressed += total
            self._metrics.suppressed.inc(total)
            self._tombstones.count_dropped(dropped)

    def _acknowledge(self, version: int) -> None:
        """Tell a waiting deletion that everything written from now on is filtered with at
        least `version` (after a committed batch, and when nothing is being inserted)."""
        if self._tombstones is not None and version >= 0:
            self._tombstones.ack(version)

    def _acknowledge_idle(self) -> None:
        if self._tombstones is None or self._inflight is not None:
            return
        # Stale tombstones: nothing is written until they are fresh again (_prepare).
        with contextlib.suppress(ServiceUnavailableError):
            self._acknowledge(self._tombstones.current().version)

    def _skip_stored(self, batch: Batch, *, recheck: bool) -> None:
        skipped = self._guard.filter(batch, recheck=recheck)
        if skipped:
            self._stats.duplicates_skipped += skipped
            self._metrics.duplicates_skipped.inc(skipped)
            log.info("skipped %d message(s) already stored by an earlier run", skipped)

    def _write(self, batch: Batch) -> dict[str, int]:
        """Insert each table's rows as one block (runs in the insert thread)."""
        started = time.perf_counter()
        written: dict[str, int] = {}
        for table, data in batch.tables():
            token = batch.dedup_token(self._settings.sink.group_id, table)
            written[table] = self._backend.insert_arrow(
                table, data, dedup_token=token, optimize_on_insert=False
            )
        self._metrics.insert_seconds.observe(time.perf_counter() - started)
        return written

    def _done(self, batch: Batch, written: dict[str, int]) -> None:
        self._commit(batch)
        self._acknowledge(batch.tombstone_version)
        self._stats.last_commit_at = time.time()
        self._stats.batches += 1
        self._stats.messages += batch.messages
        self._metrics.batch_rows.observe(batch.messages)
        for table, count in written.items():
            self._stats.rows_written[table] = self._stats.rows_written.get(table, 0) + count
            self._metrics.rows_written.labels(table).inc(count)
        self._maybe_let_others_in(after_insert=True)

    def _commit(self, batch: Batch) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in batch.commit_positions().items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self._committed.update(((t.topic, t.partition), t.offset) for t in offsets)
        except KafkaException as exc:
            # Rows are in; the next owner of these partitions skips them (sinks._guard).
            log.warning("offset commit failed (rows are stored, will be skipped): %s", exc)

    def _maybe_let_others_in(self, *, after_insert: bool = False) -> None:
        """chDB: close the folder while another process waits for it (checked after every
        insert and every _WAITERS_CHECK_S), and when caught up (nothing read since the last
        insert): the next insert reopens it once the waiting processes are in.

        Under load the folder stays open from batch to batch: closing and reopening it
        (50-90 ms on the project's machine) cost about as much as inserting 50,000 rows.
        """
        if not self._let_others_in or self._inflight is not None:
            return  # the insert thread is using the folder; _done checks again after it
        clock = self._clock()
        if not after_insert and clock - self._waiters_checked_at < _WAITERS_CHECK_S:
            return
        self._waiters_checked_at = clock
        caught_up = not after_insert and self._batch.empty and not self._carry
        if caught_up or self._backend.others_waiting():
            self._backend.release()

    # -- outage handling -------------------------------------------------------------------
    def _pause(self) -> None:
        if not self._paused:
            self._consumer.pause(self._consumer.assignment())
            self._paused = True

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume(self._consumer.assignment())
            self._paused = False

    def _wait(self, seconds: float) -> bool:
        """Sleep while staying in the group; False when asked to stop."""
        deadline = self._clock() + seconds
        while not self._should_stop():
            left = deadline - self._clock()
            if left <= 0:
                return True
            msg = self._consumer.poll(min(left, _WAITERS_CHECK_S))
            if msg is not None:
                self._carry.append(msg)
            self._maybe_let_others_in()
        return False

    # -- rebalancing -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assigned = {(p.topic, p.partition) for p in partitions}
        self._guard.assigned(assigned)
        if self._paused and partitions:
            consumer.pause(partitions)
        log.info("assigned %s", sorted(assigned))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        if self._inflight is not None:
            # Finish the batch being inserted while these partitions are still ours.
            batch, future = self._inflight
            self._inflight = None
            try:
                self._done(batch, future.result())
            except BackendError as exc:
                log.warning("insert failed during rebalance; left to the new owner: %s", exc)
        if self._retrying is not None:
            self._retrying.forget_partitions(revoked)
        if self._sealed is not None:
            self._sealed.forget_partitions(revoked)
        self._guard.revoked(revoked)
        for tp in revoked:
            self._committed.pop(tp, None)
        dropped = self._batch.forget_partitions(revoked)
        self._carry = [m for m in self._carry if (m.topic(), m.partition()) not in revoked]
        self._stats.revoked_dropped += dropped
        for topic, partition in revoked:
            labels = (topic, str(partition))
            if labels in self._lag_labels:
                self._lag_labels.discard(labels)
                self._metrics.lag.remove(*labels)
        log.info("revoked %s (%d buffered message(s) left to the new owner)", revoked, dropped)

    # -- lag -------------------------------------------------------------------------------
    def _maybe_report_lag(self) -> None:
        """Lag = end of partition - committed offset, from local state only: the high
        watermark librdkafka caches from fetch responses and the offsets this sink committed
        (a broker round trip here would stall the loop)."""
        now = self._clock()
        if now - self._last_lag_at < _LAG_INTERVAL_S:
            return
        self._last_lag_at = now
        if now - self._last_summary_at >= _SUMMARY_INTERVAL_S:
            self._last_summary_at = now
            stats = self._stats
            log.info(
                "%d messages stored (%s), %d batches, %d retries, %d duplicates skipped",
                stats.messages,
                ", ".join(f"{t}: {n}" for t, n in sorted(stats.rows_written.items())) or "-",
                stats.batches,
                stats.retries,
                stats.duplicates_skipped,
            )
        try:
            for tp in self._consumer.position(self._consumer.assignment()):
                key = (tp.topic, tp.partition)
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    continue
                done = self._committed.get(key, tp.offset if tp.offset >= 0 else high)
                labels = (tp.topic, str(tp.partition))
                self._metrics.lag.labels(*labels).set(max(0, high - done))
                self._lag_labels.add(labels)
        except KafkaException as exc:
            log.debug("lag not measured: %s", exc)
