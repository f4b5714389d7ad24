"""`kill -9` one of three Kafka brokers mid-stream, restart it: no acknowledged event is lost,
and the worker's counts and the sink's rows come out exact.

The SDK sends a known stream (idempotent producer, acks=all; topics with replication factor
3 and min.insync.replicas=2, so two brokers keep accepting). The broker killed is the leader
of partition 0 of the interactions topic, so the producer, the worker and the sink all see a
leader election; it is killed once the worker is visibly counting and restarted once the
stream has moved on without it, and the test then waits until every partition is back in
sync. Every wait is on a condition with a generous bound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from interaction_pipeline.stack import cluster
from schemas.settings import Settings
from tests.integration.cluster.support import (
    Feeder,
    assert_counts_exact,
    counted,
    start_sinks,
    start_worker,
    stored_rows,
    stream,
    wait_drained,
)
from tests.popularity_support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.cluster]

EVENTS = 12_000
RATE_PER_S = 800


def partition_leader(settings: Settings, topic: str, partition: int = 0) -> int:
    """0-based node index of the partition's leader (node ids are index + 1)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    metadata = admin.list_topics(topic, timeout=30)
    return int(metadata.topics[topic].partitions[partition].leader) - 1


def test_broker_kill9_mid_stream_loses_no_acknowledged_event(
    cluster_layout: cluster.ClusterLayout, cluster_settings: Settings, tmp_path: Path
) -> None:
    settings = cluster_settings.replace(
        sink={"group_id": f"sink-{cluster_settings.redis.key_prefix}"}
    )
    now = datetime.now(UTC)
    events = stream(1, EVENTS, now)
    feeder = Feeder(settings, events, RATE_PER_S)
    worker = start_worker(settings, tmp_path / "worker.log")
    sinks = start_sinks(settings, tmp_path / "sinks")
    try:
        feeder.start()
        assert wait_for(lambda: counted(settings, now) > 500, 90), worker.log_tail()
        victim = partition_leader(settings, settings.topics.interactions)
        cluster.kill_kafka(cluster_layout, victim)
        at_kill = feeder.acknowledged
        # The stream goes on with two brokers: the SDK's sends are acknowledged without it.
        assert wait_for(lambda: feeder.acknowledged > at_kill + 1_000, 120), feeder.failures[:3]
        cluster.start_kafka(Settings(), cluster_layout, victim)
        assert feeder.done.wait(180), "the producer did not finish"
        cluster.wait_kafka(cluster_layout, [settings.topics.interactions])

        assert feeder.failures == []
        assert feeder.acknowledged == EVENTS
        assert at_kill < EVENTS  # killed mid-stream
        wait_drained(settings, settings.worker_group_id)
        wait_drained(settings, settings.sink.group_id)
        assert_counts_exact(settings, events)
        assert worker.alive, worker.log_tail()
        assert worker.terminate() == 0, worker.log_tail()
        sinks.check_alive()
        sinks.stop_all()
        assert stored_rows(settings) == (EVENTS, EVENTS)
    finally:
        worker.stop()
        sinks.stop_all()
        for node in range(cluster_layout.kafka_brokers):  # leave every broker running
            cluster.start_kafka(Settings(), cluster_layout, node)
