"""Rebalance test: two live workers in one consumer group while a steady stream arrives.

Partitions move between live workers four times mid-stream: a second worker joins, the first
is killed with `kill -9` (its partitions move after the session timeout, and batches it
applied but had not committed are redelivered to the second), it comes back, and it leaves
gracefully (SIGTERM), so that the second gets back partitions whose counts the first moved on
meanwhile. Afterwards every count, and every trending score (per type and weighted), must
equal what the input implies: redelivered batches are skipped by the offset watermarks, and
a worker that gets a partition back does not build scores from what it published before.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer

from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.wire import decode_interaction
from stream_processors import PopularityReader
from stream_processors.keys import OFFSET_PREFIX, RedisKeys
from tests.kafka_reading import group_committed_to_end
from tests.popularity_support import (
    WorkerProcess,
    assert_counts_and_trending,
    clock_at,
    event,
    expected_counts,
    produce_steadily,
    total_count,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = [f"doc{i}" for i in range(30)]
TYPES = ["click", "purchase"]
PARTITIONS = 4
RATE_PER_S = 300
DURATION_S = 30.0
SESSION_TIMEOUT_S = 6
APPLIED = "popularity_events_applied_total"


def _stream(now: datetime) -> list[InteractionEvent]:
    rng = random.Random(7)
    return [
        event(
            rng.choice(FEATURES),
            now - timedelta(minutes=rng.randrange(60, 3 * 24 * 60)),
            [rng.choice(TYPES)],
            user_id=f"user{rng.randrange(10)}",
        )
        for _ in range(int(RATE_PER_S * DURATION_S))
    ]


def _missing(client: redis.Redis, settings: Settings, events: list[InteractionEvent]) -> str:
    """Which events were not applied (not in their feature's event-id set), where they sit
    in Kafka, and each partition's offset watermark for that feature: what a failure needs."""
    keys = RedisKeys(settings.redis.key_prefix)
    prefix = OFFSET_PREFIX.encode()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"diagnose-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([settings.topics.interactions])
    where: dict[str, tuple[int, int]] = {}
    deadline = time.monotonic() + 30
    while len(where) < len({e.event_id for e in events}) and time.monotonic() < deadline:
        for message in consumer.consume(1_000, timeout=1.0):
            if message.error() is None:
                where[str(decode_interaction(message.value()).event_id)] = (
                    message.partition(),
                    message.offset(),
                )
    consumer.close()
    lines = []
    for e in events:
        seen = client.zscore(keys.feature_event_ids(e.feature_id), e.event_id.bytes)
        if seen is None:
            partition, offset = where.get(str(e.event_id), (-1, -1))
            state = client.hgetall(keys.feature_state(e.feature_id))
            marks = {k.decode(): v.decode() for k, v in state.items() if k.startswith(prefix)}
            lines.append(f"{e.feature_id} p{partition}@{offset} not applied; watermarks {marks}")
    return "\n".join(lines[:20]) or "every event applied"


def test_counts_and_trending_are_exact_across_rebalances_between_live_workers(
    own_topic: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = own_topic("rebalance", PARTITIONS)
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=10)
    now = datetime.now(UTC)
    events = _stream(now)
    env = {"WORKER_BATCH_SIZE": "100", "WORKER_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S)}
    first = WorkerProcess(settings, tmp_path / "first.log", **env)
    second = WorkerProcess(settings, tmp_path / "second.log", **env)
    done = threading.Event()
    feeder = threading.Thread(
        target=produce_steadily, args=(settings, events, done, RATE_PER_S), daemon=True
    )

    def applied() -> int:
        return total_count(client, settings, FEATURES, now)

    def progresses(by: int = 200) -> bool:
        before = applied()
        return wait_for(lambda: applied() > before + by, 60, interval=0.05)

    def takes_part(worker: WorkerProcess) -> bool:
        """The worker applies events of its own (it was given partitions)."""
        start = worker.metrics().get(APPLIED, 0.0)
        return wait_for(lambda: worker.metrics().get(APPLIED, 0.0) > start + 50, 60, interval=0.1)

    try:
        feeder.start()
        first.start()
        assert progresses(), first.log_tail()
        second.start()  # rebalance 1: half of the partitions move to the newcomer
        assert takes_part(second), second.log_tail()
        first.kill9()  # rebalance 2, after the session timeout: all to the second
        assert progresses(), second.log_tail()
        first.start()  # rebalance 3: sharing again
        assert takes_part(first), first.log_tail()
        progress_at_last_move = applied()
        assert first.terminate() == 0, first.log_tail()  # rebalance 4: the second gets back
        # partitions it held before rebalance 3, whose counts the first has moved on since
        assert done.wait(DURATION_S * 3), "the producer did not finish"
        total = len(events)
        assert 0 < progress_at_last_move < total, (progress_at_last_move, total)
        assert wait_for(lambda: applied() == total, 90), _missing(client, settings, events)
        # One more click per feature: scores the second worker writes now must not be built
        # from what it published before rebalance 3.
        read_at = datetime.now(UTC)
        touches = [event(f, read_at - timedelta(minutes=5), ["click"]) for f in FEATURES]
        finished = threading.Event()
        produce_steadily(settings, touches, finished, RATE_PER_S)
        events += touches
        assert wait_for(lambda: applied() == len(events), 60), (applied(), second.log_tail())
        # Nothing is in flight once the group committed every partition to its end: a double
        # count would show now.
        group, topic = settings.worker_group_id, settings.topics.interactions
        assert wait_for(lambda: group_committed_to_end(settings, group, topic), 120, 0.5)
        expected = {days: expected_counts(events, settings, read_at, days) for days in (1, 7, 30)}
        reader = PopularityReader(client, settings, clock=clock_at(read_at))
        for days, by_feature in expected.items():
            want = {f: {t: by_feature.get(f, {}).get(t, 0) for t in TYPES} for f in FEATURES}
            assert_counts_and_trending(reader, settings, want, days)
        assert second.terminate() == 0, second.log_tail()
    finally:
        first.stop()
        second.stop()
        client.close()
