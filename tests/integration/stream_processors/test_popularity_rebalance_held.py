"""Rebalances at chosen points: every move of partitions lands between a worker applying a
batch to Redis and acknowledging it, on a signal from the test.

test_popularity_rebalance.py moves partitions at whatever point the stream has reached, and
caught a loss in about 2 runs of 25. Here the workers run `held_worker`, the real worker with
a fault-injection gate: while the test holds the gate, a worker applies its batch and then
waits, unacknowledged, with more events fetched behind it. Each step waits on the broker
(group state, committed offsets) or on Redis, never on a clock:

1. a new group (nothing committed): the first worker holds a batch; the second joins; once
   the broker shows the group rebalancing, the gate opens;
2. the first worker holds a batch and is killed with `kill -9`: the batch is in Redis, its
   offsets are checked to be uncommitted, and the second worker must skip it as a replay;
3. the second worker holds a batch; the first comes back and joins; the gate opens once the
   group rebalances;
4. the first worker holds a batch and leaves (SIGTERM): the second gets back partitions whose
   counts the first moved on meanwhile;
5. one more click per feature: scores the second writes now must not be built from what it
   published before.

Afterwards every count and every trending score must equal a recount of the input. The
event_id idempotency window is off, so the offset watermarks alone absorb redeliveries.

Which guards this test catches when they are switched off (the offset watermarks, forgetting
published scores on revocation) and which it does not (the Faust offset fixes of
stream_processors/_faust_offsets.py): docs/testing.md, "Mutation checks".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.wire import encode
from stream_processors import PopularityReader
from tests.integration.stream_processors.held_worker import HOLD, held_batches
from tests.kafka_reading import (
    committed_offsets,
    group_committed_to_end,
    group_members,
    group_rebalancing,
)
from tests.popularity_support import (
    WorkerProcess,
    assert_counts_and_trending,
    clock_at,
    event,
    expected_counts,
    total_count,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = [f"doc{i}" for i in range(20)]
TYPES = ["click", "purchase"]
PARTITIONS = 4
PHASE = 400
"""Events per step, spread over every partition: several batches each."""
SESSION_TIMEOUT_S = 6


class HeldWorker(WorkerProcess):
    """`WorkerProcess` running `held_worker`, with its own gate folder."""

    module = "tests.integration.stream_processors.held_worker"

    def __init__(self, settings: Settings, folder: Path, **env: str) -> None:
        folder.mkdir()
        self.folder = folder
        super().__init__(settings, folder / "worker.log", HOLD_DIR=str(folder), **env)

    def hold(self) -> int:
        """Close the gate; returns how many batches were held before."""
        (self.folder / HOLD).touch()
        return len(held_batches(self.folder))

    def release(self) -> None:
        (self.folder / HOLD).unlink(missing_ok=True)

    def holds_since(self, before: int) -> dict[int, tuple[int, int]] | None:
        """The batch held now, once a new one is (None until then)."""
        held = held_batches(self.folder)
        return held[-1] if len(held) > before else None


def _phase(step: int, now: datetime) -> list[InteractionEvent]:
    return [
        event(
            FEATURES[(step * 7 + i) % len(FEATURES)],
            now - timedelta(hours=1 + (step * 13 + i) % 200),
            [TYPES[(i // 3) % 2]],
            user_id=f"user{i % 10}",
        )
        for i in range(PHASE)
    ]


def test_rebalances_and_a_kill_between_apply_and_commit_lose_and_repeat_nothing(
    own_topic: Callable[..., Settings], tmp_path: Path
) -> None:
    # The event_id idempotency window off: the offset watermarks alone must absorb the
    # redelivered batch of step 2 (with it on, a replay would be caught twice over).
    settings = own_topic("rebalance-held", PARTITIONS, dedupe_window_s=0)
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=10)
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    group, topic = settings.worker_group_id, settings.topics.interactions
    now = datetime.now(UTC)
    env = {
        "WORKER_BATCH_SIZE": "50",
        "WORKER_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S),
        "DEDUPE_WINDOW_S": "0",
    }
    first = HeldWorker(settings, tmp_path / "first", **env)
    second = HeldWorker(settings, tmp_path / "second", **env)
    sent: list[InteractionEvent] = []

    def send(events: list[InteractionEvent]) -> None:
        """Keyed by feature, as producers send: one feature, one partition (and each of the
        four partitions gets five features)."""
        for e in events:
            partition = FEATURES.index(e.feature_id) % PARTITIONS
            producer.produce(topic, key=e.feature_id.encode(), value=encode(e), partition=partition)
        assert producer.flush(30) == 0
        sent.extend(events)

    def applied() -> int:
        return total_count(client, settings, FEATURES, now)

    def settled(members: int) -> bool:
        """Every event sent is applied and committed, with `members` workers holding
        partitions: nothing in flight, so a double count would show."""
        return (
            applied() >= len(sent)
            and group_committed_to_end(settings, group, topic)
            and group_members(settings, group) == members
        )

    def logs() -> str:
        return f"first:\n{first.log_tail()}\nsecond:\n{second.log_tail()}"

    try:
        # 1. A new group: the first worker holds a batch, nothing committed, the second joins.
        before = first.hold()
        first.start()
        send(_phase(1, now))
        assert wait_for(lambda: first.holds_since(before), 90), logs()
        assert all(o < 0 for o in committed_offsets(settings, group, topic).values())
        second.start()
        assert wait_for(lambda: group_rebalancing(settings, group), 120, 0.2), logs()
        first.release()
        assert wait_for(lambda: settled(2), 180, 0.5), (applied(), len(sent), logs())
        assert applied() == len(sent)

        # 2. kill -9 between apply and commit: the batch is in Redis, its offsets are not
        # committed (a dead process commits nothing), so the second worker reads it again.
        before = first.hold()
        send(_phase(2, now))
        held = wait_for(lambda: first.holds_since(before), 90)
        assert held, logs()
        first.kill9()
        first.release()
        committed = committed_offsets(settings, group, topic)
        assert all(committed.get(p, -1) <= low for p, (low, _) in held.items()), (held, committed)
        assert wait_for(lambda: settled(1), 180, 0.5), (applied(), len(sent), logs())
        assert applied() == len(sent)

        # 3. The second worker holds a batch; the first comes back.
        before = second.hold()
        send(_phase(3, now))
        assert wait_for(lambda: second.holds_since(before), 90), logs()
        first.start()
        assert wait_for(lambda: group_rebalancing(settings, group), 120, 0.2), logs()
        second.release()
        assert wait_for(lambda: settled(2), 180, 0.5), (applied(), len(sent), logs())
        assert applied() == len(sent)

        # 4. The first holds a batch and leaves: the second gets back partitions whose counts
        # the first moved on since step 3.
        before = first.hold()
        send(_phase(4, now))
        assert wait_for(lambda: first.holds_since(before), 90), logs()
        assert first.proc is not None
        first.proc.terminate()
        first.release()
        assert first.proc.wait(90) == 0, logs()
        assert wait_for(lambda: settled(1), 180, 0.5), (applied(), len(sent), logs())
        assert applied() == len(sent)

        # 5. One more click per feature, read at a fixed time.
        read_at = datetime.now(UTC)
        send([event(f, read_at - timedelta(minutes=5), ["click"]) for f in FEATURES])
        assert wait_for(lambda: settled(1), 180, 0.5), (applied(), len(sent), logs())
        assert applied() == len(sent)

        reader = PopularityReader(client, settings, clock=clock_at(read_at))
        for days in (1, 7, 30):
            by_feature = expected_counts(sent, settings, read_at, days, dedupe=False)
            want = {f: {t: by_feature.get(f, {}).get(t, 0) for t in TYPES} for f in FEATURES}
            assert_counts_and_trending(reader, settings, want, days)
        assert second.terminate() == 0, logs()
    finally:
        first.release()
        second.release()
        first.stop()
        second.stop()
        client.close()
