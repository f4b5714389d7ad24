"""Builds the popularity Faust app from settings; the logic lives in agents.py and _runtime.py."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import faust

from schemas.settings import Settings
from stream_processors import agents
from stream_processors._faust_transport import use_worker_transport
from stream_processors._faust_tuning import tuned_app_settings
from stream_processors._metrics import WorkerMetrics
from stream_processors._plan import Planner
from stream_processors._runtime import PopularityRuntime
from stream_processors._store import PopularityStore
from stream_processors._windows import Clock, system_clock
from stream_processors.connection import async_redis_client, redis_client
from stream_processors.keys import RedisKeys
from stream_processors.suppression import RedisTombstones

EXIT_WITHOUT_COMMIT = 70


def exit_without_commit(exc: BaseException) -> None:
    """Leave at once: a normal shutdown would commit the offsets of the failed batch."""
    sys.stderr.flush()
    os._exit(EXIT_WITHOUT_COMMIT)


def create_app(
    settings: Settings,
    *,
    metrics: WorkerMetrics | None = None,
    clock: Clock = system_clock,
) -> tuple[faust.App, PopularityRuntime]:
    app_id = settings.worker_group_id
    datadir = Path(tempfile.gettempdir()) / "interactions-faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        app_id,
        broker=";".join(
            f"kafka://{s.strip()}" for s in settings.kafka.bootstrap_servers.split(",")
        ),
        datadir=str(datadir),
        store="memory://",
        web_enabled=False,
        value_serializer="raw",
        key_serializer="raw",
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=settings.topics.replication_factor,
        topic_partitions=settings.topics.partitions,
        # stream_wait_empty stays on (Faust's default): before a rebalance hands partitions
        # over, every event the agent already holds (its take buffer) is applied and acked.
        # Off, a worker that keeps a partition re-reads it from the committed offset while
        # still holding later events from before; applied first, those move the partition's
        # offset watermark past the re-read ones, which are then skipped as replays: events
        # were lost (tests/integration/test_popularity_rebalance.py, 2 runs in 6).
        producer_acks=-1,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.worker.session_timeout_s / 3),
        **tuned_app_settings(),  # throughput: see stream_processors/_faust_tuning.py
    )
    use_worker_transport(app)
    dead_letters = app.topic(settings.topics.dead_letter, key_type=bytes, value_type=bytes)

    async def dead_letter(
        key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[Any]:
        """Queue a dead letter now (not on commit); the result resolves on Kafka's ack."""
        return await dead_letters.send(key=key, value=value, headers=headers, force=True)

    # No per-reply socket timeout: its timer costs per command; the store bounds each round
    # trip instead (REDIS_TIMEOUT_S).
    client = async_redis_client(settings, socket_timeout=None)
    store = PopularityStore(client, settings, clock=clock)
    # Tombstones are read with a plain client off the event loop, once per refresh interval.
    tombstones = RedisTombstones(
        redis_client(settings, socket_timeout=10.0),
        RedisKeys(settings.redis.key_prefix),
        component="worker",
        refresh_s=settings.erasure.refresh_s,
        max_stale_s=settings.erasure.max_stale_s,
    )
    runtime = PopularityRuntime(
        store,
        Planner(settings),
        metrics or WorkerMetrics(),
        clock=clock,
        dead_letter=dead_letter,
        on_fatal=exit_without_commit,
        tombstones=tombstones,
    )
    agents.register(app, settings, runtime)
    return app, runtime
