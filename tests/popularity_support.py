"""Helpers for the popularity tests: apply events through the real store at a chosen time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from schemas.events import InteractionEvent
from schemas.interaction_types import TypeRegistry
from schemas.settings import Settings
from schemas.wire import encode
from stream_processors import PopularityReader
from stream_processors._plan import Planner, Record
from stream_processors._store import ApplyResult, PopularityStore


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def clock_at(when: datetime):  # type: ignore[no-untyped-def]
    return lambda: when.timestamp()


class StoreDriver:
    """Feeds events to PopularityStore as the worker would, with an injected clock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._offsets = itertools.count()
        self.redis = redis.Redis.from_url(settings.redis.url, socket_timeout=10)

    def records(self, events: Iterable[InteractionEvent], partition: int = 0) -> list[Record]:
        topic = self.settings.topics.interactions
        return [
            Record(topic, partition, next(self._offsets), e.feature_id.encode(), encode(e))
            for e in events
        ]

    def apply_records(self, records: list[Record], now: datetime) -> ApplyResult:
        plan = Planner(self.settings).plan(records, ms(now))
        return asyncio.run(self._with_store(now, lambda store: store.apply(plan)))

    def apply(self, events: Iterable[InteractionEvent], now: datetime) -> ApplyResult:
        return self.apply_records(self.records(events), now)

    def sweep(self, now: datetime, partitions: Iterable[int] = (0,)) -> int:
        topic = self.settings.topics.interactions
        owned = list(partitions)
        return asyncio.run(self._with_store(now, lambda store: store.sweep_due(topic, owned)))

    async def _with_store(self, now: datetime, work):  # type: ignore[no-untyped-def]
        client = aioredis.Redis.from_url(self.settings.redis.url, socket_timeout=10)
        try:
            return await work(PopularityStore(client, self.settings, clock=clock_at(now)))
        finally:
            await client.aclose()

    def reader(self, now: datetime) -> PopularityReader:
        return PopularityReader(self.redis, self.settings, clock=clock_at(now))

    def close(self) -> None:
        self.redis.close()


# -- the oracle: the documented rules, written out here, never the product's helpers -------
#
# docs/popularity.md, "Windows": counts are kept per hour bucket of event time (UTC), the
# bucket being epoch seconds // 3600. A D-day window at `now` holds the buckets
# `hour >= now_hour - 24 x D`. Older than MAX_WINDOW_DAYS (by that rule) is late, more than
# MAX_FUTURE_SKEW_S ahead is future; neither is applied. docs/sending-events.md: `long_view`
# is also counted when `metadata.duration_ms >= LONG_VIEW_MS`. A type counts once per event,
# and an event_id once (the idempotency window). Computed with exact integer arithmetic on
# datetimes, so a rounding or boundary bug in the product cannot be mirrored here.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)


def oracle_hour(when: datetime) -> int:
    """The UTC hour bucket of `when`: whole hours since the epoch, floored."""
    return (when - _EPOCH) // _HOUR


def oracle_types(event: InteractionEvent, long_view_ms: int) -> set[str]:
    types = set(event.interaction_type)
    duration = event.metadata.get("duration_ms")
    if isinstance(duration, int | float) and duration >= long_view_ms:
        types.add("long_view")
    return types


def on_time(event: InteractionEvent, settings: Settings, applied_at: datetime) -> bool:
    """Whether the worker applies this event at `applied_at` (neither late nor future)."""
    if event.timestamp > applied_at + timedelta(seconds=settings.events.max_future_skew_s):
        return False
    oldest = oracle_hour(applied_at) - 24 * settings.popularity.max_window_days
    return oracle_hour(event.timestamp) >= oldest


def expected_counts(
    events: Iterable[InteractionEvent],
    settings: Settings,
    now: datetime,
    window_days: int,
    *,
    dedupe: bool = True,
) -> dict[str, dict[str, int]]:
    """Counts by the documented rules above, from the input alone: an event counts while
    its hour bucket is >= now's hour - 24 x days; each event_id counts once (unless `dedupe`
    is off, as with dedupe_window_s=0). Pass only events that were on time when applied."""
    first_hour = oracle_hour(now) - 24 * window_days
    seen: set[object] = set()
    out: dict[str, dict[str, int]] = {}
    for event in events:
        if dedupe and event.event_id in seen:
            continue
        seen.add(event.event_id)
        if oracle_hour(event.timestamp) < first_hour:
            continue
        by_type = out.setdefault(event.feature_id, {})
        for t in oracle_types(event, settings.events.long_view_ms):
            by_type[t] = by_type.get(t, 0) + 1
    return out


def event(
    feature_id: str, when: datetime, types: list[str] | None = None, **extra: object
) -> InteractionEvent:
    data: dict[str, object] = {
        "feature_id": feature_id,
        "interaction_type": types or ["click"],
        "timestamp": when,
    } | extra
    return InteractionEvent.model_validate(data, context={"max_future_skew_s": 10**9})


def hour_floor(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def days(n: float) -> timedelta:
    return timedelta(days=n)


# -- the real worker, as a subprocess ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes `interactions worker` use these settings."""
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "REDIS_URL": settings.redis.url,
            "TOPIC_INTERACTIONS": settings.topics.interactions,
            "TOPIC_SEARCHES": settings.topics.searches,
            "TOPIC_DEAD_LETTER": settings.topics.dead_letter,
            "REDIS_KEY_PREFIX": settings.redis.key_prefix,
            "WORKER_SESSION_TIMEOUT_S": "6",
            "WORKER_BATCH_WITHIN_S": "0.05",
            "WORKER_SWEEP_INTERVAL_S": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class WorkerProcess:
    """`interactions worker` in its own process group; always stopped by the test."""

    module = "interaction_pipeline.cli.main"
    """What `python -m` runs with the `worker` command (a test may wrap the CLI)."""

    def __init__(self, settings: Settings, log: Path, **env: str) -> None:
        self.metrics_port = free_port()
        self._env = worker_env(settings, WORKER_METRICS_PORT=str(self.metrics_port), **env)
        self._log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    "worker",
                    "--loglevel",
                    "warning",
                ],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Teardown: whatever state it is in, it is gone afterwards."""
        if self.alive:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def metrics(self) -> dict[str, float]:
        """Samples of /metrics by name (with labels as name{k=v}); {} while not up."""
        try:
            body = urllib.request.urlopen(
                f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2
            ).read()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def log_tail(self, lines: int = 40) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def local_ports(pid: int) -> set[int]:
    """TCP ports of `pid`'s own ends of its connections (Linux /proc)."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def blocked_in_redis(client: redis.Redis[Any], worker: WorkerProcess) -> bool:
    """Whether one of `worker`'s Redis connections waits on a command (CLIENT PAUSE)."""
    assert worker.proc is not None
    ports = local_ports(worker.proc.pid)
    return any(
        "b" in str(c.get("flags", "")) and int(str(c["addr"]).rsplit(":", 1)[1]) in ports
        for c in client.client_list()
    )


def wait_for(check, timeout: float, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `check()` until it returns a truthy value or the deadline passes; returns it."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def produce_steadily(
    settings: Settings,
    events: list[InteractionEvent],
    done: threading.Event,
    rate_per_s: float,
) -> None:
    """Publish `events` at a steady rate (keyed by feature_id), then set `done`."""
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "linger.ms": 5})
    started = time.monotonic()
    for i, e in enumerate(events):
        producer.produce(settings.topics.interactions, key=e.feature_id.encode(), value=encode(e))
        delay = started + i / rate_per_s - time.monotonic()
        if delay > 0:
            producer.poll(delay)
    producer.flush(30)
    done.set()


def total_count(
    client: redis.Redis[Any], settings: Settings, feature_ids: list[str], now: datetime
) -> int:
    """Every type's 30-day count over `feature_ids`, summed: how far a worker has got."""
    counts = PopularityReader(client, settings, clock=clock_at(now)).counts(feature_ids, None, 30)
    return sum(sum(by_type.values()) for by_type in counts.values())


def assert_counts_and_trending(
    reader: PopularityReader,
    settings: Settings,
    want: dict[str, dict[str, int]],
    days: int,
) -> None:
    """Counts per feature and type (`want`, every feature and type listed) as the reader
    serves them, and every trending set, per type and weighted, made of exactly those counts."""
    features, types = list(want), list(next(iter(want.values())))
    assert reader.counts(features, types, days) == want, days
    for interaction_type in types:
        trending = {
            item.feature_id: item.score
            for item in reader.trending(interaction_type, days, n=len(features))
        }
        counted = {f: c[interaction_type] for f, c in want.items() if c[interaction_type]}
        assert trending == counted, (days, interaction_type)
    registry = TypeRegistry(settings.events.type_weights)
    weighted = {item.feature_id: item.score for item in reader.trending(None, days, len(features))}
    assert weighted == pytest.approx(
        {
            f: sum(registry.get(t).weight * n for t, n in c.items())
            for f, c in want.items()
            if any(c.values())
        }
    ), days
