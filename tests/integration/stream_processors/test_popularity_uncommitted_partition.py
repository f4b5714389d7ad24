"""Partitions move while Redis stalls: events fetched but not yet processed, on partitions
that have never had an offset committed, are all applied, by whichever worker ends up with
them.

1. the first worker is up; a first event on partition 0 is applied;
2. Redis refuses writes for a while, so the worker's next batch (one event on partition 0)
   hangs in flight, and the events then sent to the other partitions wait, fetched, in its
   buffer; none of those partitions has an offset committed;
3. a second worker joins: the first clears its buffer, finishes the batch in flight once Redis
   writes again, commits, and keeps some of the partitions.

Faust leaves a partition without a committed offset wherever its fetcher was (past the
cleared events); here aiokafka resets the kept partitions for the new assignment, so this
passes with or without `SafeOffsetsConsumer.perform_seek`. The race in which it does not reset
them (a rebalance while a fetch is in flight) is what the rebalance test caught in CI; its
decision is unit-tested in tests/unit/test_faust_offsets.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from schemas.settings import Settings
from schemas.wire import encode
from tests.popularity_support import WorkerProcess, event, total_count, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION_TIMEOUT_S = 6
WRITES_PAUSED_MS = 16_000
FETCHED_NOT_PROCESSED = 40
PARTITIONS = 4


def test_events_fetched_before_a_rebalance_on_a_partition_never_committed_are_applied(
    own_topic: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = own_topic("uncommitted", PARTITIONS)
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=30)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    now = datetime.now(UTC)
    features = [f"doc{i}" for i in range(5)]

    def send(partition: int, count: int) -> None:
        for i in range(count):
            e = event(features[i % len(features)], now - timedelta(hours=2), ["click"])
            producer.produce(settings.topics.interactions, value=encode(e), partition=partition)
        assert producer.flush(30) == 0

    def applied() -> int:
        return total_count(client, settings, features, now)

    env = {"WORKER_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
    first = WorkerProcess(settings, tmp_path / "first.log", **env)
    second = WorkerProcess(settings, tmp_path / "second.log", **env)
    try:
        first.start()
        send(0, 1)
        assert wait_for(lambda: applied() == 1, 60), first.log_tail()
        client.execute_command("CLIENT", "PAUSE", WRITES_PAUSED_MS, "WRITE")
        paused_at = time.monotonic()
        send(0, 1)  # the batch that hangs in flight
        time.sleep(1.0)
        for partition in range(1, PARTITIONS):
            send(partition, FETCHED_NOT_PROCESSED)  # fetched behind it, never committed
        time.sleep(2.0)
        second.start()  # the rebalance, while the first worker's batch still hangs
        assert time.monotonic() - paused_at < WRITES_PAUSED_MS / 1000, "the steps took too long"
        total = 2 + FETCHED_NOT_PROCESSED * (PARTITIONS - 1)
        assert wait_for(lambda: applied() == total, 90), (
            applied(),
            total,
            first.log_tail(),
            second.log_tail(),
        )
        time.sleep(1.0)
        assert applied() == total
        assert first.alive, first.log_tail()
        assert second.alive, second.log_tail()
    finally:
        first.stop()
        second.stop()
        client.execute_command("CLIENT", "UNPAUSE")
        client.close()
