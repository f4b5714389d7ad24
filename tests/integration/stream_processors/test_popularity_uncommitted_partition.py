"""Partitions move while Redis stalls: events fetched but not yet processed, on partitions
that have never had an offset committed, are all applied, by whichever worker ends up with
them.

1. the first worker is up; a first event on partition 0 is applied;
2. Redis refuses writes until the test lets go, so the worker's next batch (one event on
   partition 0) hangs in flight (seen in Redis: the worker's connection is blocked), and the
   events then sent to the other partitions wait in its fetcher; none of those partitions has
   an offset committed;
3. a second worker joins; once the broker shows the group rebalancing (and the batch still
   unapplied), writes resume: the first finishes the batch in flight, commits, and keeps
   some of the partitions.

Every step waits on a condition (Redis's client list, the broker's group description,
committed offsets), never on a clock. aiokafka happens to reset the kept partitions here, so
this end-to-end scenario does not depend on `SafeOffsetsConsumer.perform_seek`: what that fix
decides is pinned by tests/unit/stream_processors/test_faust_offsets.py, and the rebalance
guards that an end-to-end run does catch are in test_popularity_rebalance_held.py (see the
mutation checks in docs/testing.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from schemas.settings import Settings
from schemas.wire import encode
from tests.kafka_reading import (
    committed_offsets,
    group_committed_to_end,
    group_members,
    group_rebalancing,
)
from tests.popularity_support import (
    WorkerProcess,
    blocked_in_redis,
    event,
    total_count,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION_TIMEOUT_S = 6
WRITES_PAUSED_MS = 180_000
"""An upper bound only: the test unpauses as soon as the rebalance is seen."""
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
    group, topic = settings.worker_group_id, settings.topics.interactions

    def send(partition: int, count: int) -> None:
        for i in range(count):
            e = event(features[i % len(features)], now - timedelta(hours=2), ["click"])
            producer.produce(topic, value=encode(e), partition=partition)
        assert producer.flush(30) == 0

    def applied() -> int:
        return total_count(client, settings, features, now)

    env = {"WORKER_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
    first = WorkerProcess(settings, tmp_path / "first.log", **env)
    second = WorkerProcess(settings, tmp_path / "second.log", **env)
    paused = False
    try:
        first.start()
        send(0, 1)
        assert wait_for(lambda: applied() == 1, 90), first.log_tail()
        client.execute_command("CLIENT", "PAUSE", WRITES_PAUSED_MS, "WRITE")
        paused = True
        send(0, 1)  # the batch that hangs in flight
        assert wait_for(lambda: blocked_in_redis(client, first), 60), first.log_tail()
        for partition in range(1, PARTITIONS):
            send(partition, FETCHED_NOT_PROCESSED)  # fetched behind it, never committed
        assert committed_offsets(settings, group, topic).get(1, -1) < 0
        second.start()  # the rebalance, while the first worker's batch still hangs
        assert wait_for(lambda: group_rebalancing(settings, group), 120, interval=0.2), (
            first.log_tail(),
            second.log_tail(),
        )
        assert applied() == 1, "the batch must still hang when the rebalance begins"
        client.execute_command("CLIENT", "UNPAUSE")
        paused = False
        total = 2 + FETCHED_NOT_PROCESSED * (PARTITIONS - 1)
        assert wait_for(lambda: applied() == total, 120), (
            applied(),
            total,
            first.log_tail(),
            second.log_tail(),
        )
        # Nothing left in flight once the group committed every partition to its end: a
        # double count would show now.
        assert wait_for(lambda: group_committed_to_end(settings, group, topic), 120, 0.5)
        assert applied() == total
        assert wait_for(lambda: group_members(settings, group) == 2, 120, 0.5)
        assert first.alive, first.log_tail()
        assert second.alive, second.log_tail()
    finally:
        if paused:
            client.execute_command("CLIENT", "UNPAUSE")
        first.stop()
        second.stop()
        client.close()
