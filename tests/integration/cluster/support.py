"""Helpers of the cluster fault tests: a known stream sent through the SDK, the pipeline's
processes on the cluster, and the checks that counts and rows are exact."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import ConsumerGroupState
from redis.exceptions import RedisError

from interaction_pipeline.orchestration.processes import Children
from producers import InteractionProducer
from schemas.errors import RedisUnavailableError
from schemas.events import InteractionEvent
from schemas.settings import Settings
from sinks import open_backend
from sinks.ddl import INTERACTIONS_TABLE
from stream_processors import PopularityReader
from stream_processors.connection import redis_client
from tests.kafka_reading import group_committed_to_end
from tests.popularity_support import WorkerProcess, clock_at, event, expected_counts, wait_for

FEATURES = [f"doc{i}" for i in range(60)]
TYPES = ["click", "purchase", "add_to_cart"]
WINDOWS = (1, 7, 30)


def stream(seed: int, count: int, now: datetime) -> list[InteractionEvent]:
    """`count` distinct events over the last five days, spread over FEATURES."""
    rng = random.Random(seed)
    return [
        event(
            rng.choice(FEATURES),
            now - timedelta(minutes=rng.randrange(60, 5 * 24 * 60)),
            [rng.choice(TYPES)],
            user_id=f"user{rng.randrange(30)}",
            position=rng.randrange(10),
        )
        for _ in range(count)
    ]


@dataclass
class Feeder:
    """Sends `events` through the SDK in chunks at about `rate_per_s`, in a thread; records
    how many Kafka acknowledged and every delivery failure."""

    settings: Settings
    events: list[InteractionEvent]
    rate_per_s: float
    chunk: int = 100
    acknowledged: int = 0
    failures: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with InteractionProducer(self.settings) as producer:
                for start in range(0, len(self.events), self.chunk):
                    part = self.events[start : start + self.chunk]
                    result = producer.send_many(part, timeout=120)
                    self.failures += [str(f) for f in result.failed]
                    self.failures += [str(v) for v in result.invalid.values()]
                    self.acknowledged += result.delivered
                    delay = started + (start + len(part)) / self.rate_per_s - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
        finally:
            self.done.set()


def start_worker(settings: Settings, log: Path, **env: str) -> WorkerProcess:
    """`interactions worker` on the cluster (REDIS_CLUSTER and the WAIT come from settings)."""
    worker = WorkerProcess(
        settings,
        log,
        REDIS_CLUSTER="true",
        REDIS_WAIT_REPLICAS=str(settings.redis.wait_replicas),
        TOPIC_REPLICATION_FACTOR=str(settings.topics.replication_factor),
        WORKER_BATCH_SIZE="500",
        **env,
    )
    worker.start()
    return worker


def start_sinks(settings: Settings, log_dir: Path, count: int = 1) -> Children:
    """`interactions sink` processes in one group on the test's chDB folder."""
    children = Children(settings, log_dir)
    for n in range(count):
        children.start(f"sink{n}", ["sink", "--decode-workers", "0", "--batch-seconds", "0.3"])
    return children


def counted(settings: Settings, now: datetime) -> int:
    """Every type's 30-day count over FEATURES, summed (how far the workers have got); -1
    while the cluster cannot answer (a failover in progress)."""
    client = redis_client(settings, socket_timeout=10)
    try:
        reader = PopularityReader(client, settings, clock=clock_at(now))
        counts = reader.counts(FEATURES, None, 30)
    except (RedisError, RedisUnavailableError):
        return -1
    finally:
        client.close()
    return sum(sum(by_type.values()) for by_type in counts.values())


def assert_counts_exact(settings: Settings, events: list[InteractionEvent]) -> None:
    """Every window's count of every feature and type equals the recount from the input."""
    read_at = datetime.now(UTC)
    client = redis_client(settings, socket_timeout=10)
    try:
        reader = PopularityReader(client, settings, clock=clock_at(read_at))
        for days in WINDOWS:
            by_feature = expected_counts(events, settings, read_at, days, dedupe=True)
            types = [*TYPES, "long_view"]
            want = {f: {t: by_feature.get(f, {}).get(t, 0) for t in types} for f in FEATURES}
            assert reader.counts(FEATURES, types, days) == want, days
    finally:
        client.close()


def wait_drained(settings: Settings, group: str, timeout: float = 180.0) -> None:
    topic = settings.topics.interactions
    assert wait_for(lambda: group_committed_to_end(settings, group, topic), timeout, 0.5), group


def stored_rows(settings: Settings) -> tuple[int, int]:
    """(rows, distinct event_ids) in the interactions table (after the sinks stopped)."""
    backend = open_backend(settings)
    try:
        row = backend.query(
            f"SELECT count() AS n, uniqExact(event_id) AS u FROM {INTERACTIONS_TABLE}"
        )[0]
    finally:
        backend.close()
    return int(row["n"]), int(row["u"])


def group_size(settings: Settings, group: str) -> int:
    """Members of `group` holding partitions; 0 while it rebalances or while its coordinator
    cannot answer (a fresh cluster creates its offsets topic on the first group's request)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    try:
        description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    except Exception:  # a condition to poll, not a failure
        return 0
    if description.state != ConsumerGroupState.STABLE:
        return 0
    return sum(1 for m in description.members if m.assignment.topic_partitions)
