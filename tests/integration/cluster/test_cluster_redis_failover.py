"""`kill -9` a Redis master while the worker counts: its replica takes over, the worker waits
the failover out and resumes, and every count comes out exact.

Why nothing is lost: Redis replicates asynchronously, so a master can acknowledge a write its
replica never got, and a failover then forgets it. The worker therefore sends `WAIT 1` to
every master at the end of each write pipeline (`REDIS_WAIT_REPLICAS=1`, on the same
connections as the writes) and acks a batch to Kafka only once a replica of every master
holds it; a failover then only loses writes whose offsets were never committed, and Kafka
redelivers those (the offset watermarks skip whatever did survive). While the promoted
replica has no replica of its own, WAIT cannot be satisfied, and the worker retries (counts
nothing it could lose) until the killed node is back as a replica.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interaction_pipeline.stack import cluster
from schemas.settings import Settings
from stream_processors.connection import redis_client
from stream_processors.keys import RedisKeys
from tests.integration.cluster.support import (
    FEATURES,
    Feeder,
    assert_counts_exact,
    counted,
    start_worker,
    stream,
    wait_drained,
)
from tests.popularity_support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.cluster]

EVENTS = 10_000
RATE_PER_S = 600


def master_port_of(settings: Settings, key: str) -> int:
    client = redis_client(settings, socket_timeout=10)
    try:
        return int(client.get_node_from_key(key).port)  # type: ignore[attr-defined]
    finally:
        client.close()


def masters_up(layout: cluster.ClusterLayout) -> int:
    return list(cluster.redis_roles(layout).values()).count("master")


def test_master_kill9_fails_over_and_counts_stay_exact(
    cluster_layout: cluster.ClusterLayout, cluster_settings: Settings, tmp_path: Path
) -> None:
    settings = cluster_settings
    now = datetime.now(UTC)
    events = stream(2, EVENTS, now)
    feeder = Feeder(settings, events, RATE_PER_S)
    worker = start_worker(settings, tmp_path / "worker.log")
    victim = master_port_of(
        settings, RedisKeys(settings.redis.key_prefix).feature_state(FEATURES[0])
    )
    try:
        feeder.start()
        assert wait_for(lambda: counted(settings, now) > 500, 90), worker.log_tail()
        killed_at = time.monotonic()
        cluster.kill_redis(cluster_layout, victim)
        # The replica is promoted after cluster-node-timeout (5 s) and an election.
        assert wait_for(lambda: masters_up(cluster_layout) == cluster_layout.redis_masters, 60)
        failover_s = time.monotonic() - killed_at
        cluster.start_redis(cluster_layout, victim)  # rejoins as the new master's replica
        cluster.wait_redis(cluster_layout)
        assert cluster.redis_roles(cluster_layout)[victim] == "slave"
        assert feeder.done.wait(120), "the producer did not finish"
        assert feeder.failures == []
        assert worker.alive, worker.log_tail()  # waited the failover out, did not exit

        wait_drained(settings, settings.worker_group_id)
        assert_counts_exact(settings, events)
        metrics = worker.metrics()
        assert worker.alive, worker.log_tail()
        assert metrics.get("popularity_redis_retries_total", 0) > 0  # it did wait the failover out
        retries = metrics["popularity_redis_retries_total"]
        print(f"failover in {failover_s:.1f}s; worker retries {retries:.0f}")
        assert worker.terminate() == 0, worker.log_tail()
    finally:
        worker.stop()
        cluster.start_redis(cluster_layout, victim)
