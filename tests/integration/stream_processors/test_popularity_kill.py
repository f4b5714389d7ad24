"""Kill test: `kill -9` the real worker at least three times mid-stream, restart it, and every
count must equal the count computed independently from the input (no loss, no double count).

A producer thread feeds a known stream (with client resends of the same event_id) at a
steady rate while the worker is killed whenever it is visibly making progress. Parametrised
over partition counts, since exactly-once rests on per-partition offset watermarks; the
4-partition run switches the event_id idempotency window off (resends then count every time)
so that the offset watermarks alone must absorb Kafka's redeliveries.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from schemas.events import InteractionEvent
from schemas.settings import Settings
from stream_processors import PopularityReader
from tests.kafka_reading import group_committed_to_end
from tests.popularity_support import (
    WorkerProcess,
    clock_at,
    event,
    expected_counts,
    produce_steadily,
    total_count,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = [f"doc{i}" for i in range(40)]
TYPES = ["click", "purchase", "add_to_cart"]
KILLS = 3
RATE_PER_S = 400
DURATION_S = 25.0


def _stream(seed: int, now: datetime) -> list[InteractionEvent]:
    """A known stream; about 5% are resends of an earlier event_id (counted once)."""
    rng = random.Random(seed)
    events: list[InteractionEvent] = []
    for _ in range(int(RATE_PER_S * DURATION_S)):
        if events and rng.random() < 0.05:
            events.append(rng.choice(events))
            continue
        extra = {"metadata": {"duration_ms": 6000}} if rng.random() < 0.1 else {}
        events.append(
            event(
                rng.choice(FEATURES),
                now - timedelta(minutes=rng.randrange(60, 5 * 24 * 60)),
                [rng.choice(TYPES)],
                user_id=f"user{rng.randrange(20)}",
                **extra,
            )
        )
    return events


@pytest.mark.parametrize(
    ("partitions", "dedupe_window_s"),
    [(1, 86_400), (4, 0)],
    ids=["1-partition", "4-partitions-watermarks-only"],
)
def test_counts_are_exact_after_repeated_kill_minus_nine(
    own_topic: Callable[..., Settings], tmp_path: Path, partitions: int, dedupe_window_s: int
) -> None:
    settings = own_topic(f"p{partitions}", partitions, dedupe_window_s=dedupe_window_s)
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=10)
    now = datetime.now(UTC)
    events = _stream(partitions, now)
    worker = WorkerProcess(
        settings,
        tmp_path / "worker.log",
        WORKER_BATCH_SIZE="200",
        DEDUPE_WINDOW_S=str(dedupe_window_s),
    )
    done = threading.Event()
    feeder = threading.Thread(
        target=produce_steadily, args=(settings, events, done, RATE_PER_S), daemon=True
    )

    def applied() -> int:
        return total_count(client, settings, FEATURES, now)

    try:
        feeder.start()
        progress_at_kill: list[int] = []
        for _ in range(KILLS):
            before = applied()
            worker.start()
            moving = wait_for(lambda b=before: applied() > b + 50, 60, interval=0.05)
            assert moving, worker.log_tail()
            # Kill at a random point of the stream, chosen by progress, not by a clock.
            target = applied() + random.randint(50, 400)
            wait_for(lambda t=target: applied() >= t or done.is_set(), 60, interval=0.01)
            worker.kill9()
            progress_at_kill.append(applied())
        assert len(progress_at_kill) >= 3
        worker.start()
        assert done.wait(DURATION_S * 3), "the producer did not finish"

        read_at = datetime.now(UTC)
        expected = {
            days: expected_counts(events, settings, read_at, days, dedupe=dedupe_window_s > 0)
            for days in (1, 7, 30)
        }
        total = sum(sum(t.values()) for t in expected[30].values())
        # Killed mid-stream: before the end of the stream every time.
        assert all(0 < p < total for p in progress_at_kill), (progress_at_kill, total)
        assert wait_for(lambda: applied() == total, 90), (applied(), total, worker.log_tail())
        # Nothing is in flight once the group committed every partition to its end: a double
        # count would show now.
        group, topic = settings.worker_group_id, settings.topics.interactions
        assert wait_for(lambda: group_committed_to_end(settings, group, topic), 120, 0.5)
        reader = PopularityReader(client, settings, clock=clock_at(read_at))
        for days, by_feature in expected.items():
            got = reader.counts(FEATURES, [*TYPES, "long_view"], days)
            want = {
                f: {t: by_feature.get(f, {}).get(t, 0) for t in [*TYPES, "long_view"]}
                for f in FEATURES
            }
            assert got == want, days
        assert worker.terminate() == 0, worker.log_tail()
    finally:
        worker.stop()
        client.close()
