"""Two workers and two sinks, each pair in its consumer group, while the broker that
coordinates the workers' group is killed (-9) and restarted: counts and rows exact.

The coordinator's death moves the group coordinator and partition leaders at once, so both
groups rejoin while events keep arriving. The two sinks share the test's chDB folder (chDB
lets one process in at a time: each sink releases it for the other between inserts); their
exactly-once check reads the rows both wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from interaction_pipeline.stack import cluster
from schemas.settings import Settings
from tests.integration.cluster.support import (
    Feeder,
    assert_counts_exact,
    counted,
    group_size,
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


def coordinator(settings: Settings, group: str) -> int:
    """0-based node index of the broker coordinating `group`."""
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    description = admin.describe_consumer_groups([group])[group].result(timeout=30)
    return int(description.coordinator.id) - 1


def test_two_workers_two_sinks_through_a_broker_restart(
    cluster_layout: cluster.ClusterLayout, cluster_settings: Settings, tmp_path: Path
) -> None:
    settings = cluster_settings.replace(
        sink={"group_id": f"sink-{cluster_settings.redis.key_prefix}"}
    )
    now = datetime.now(UTC)
    events = stream(3, EVENTS, now)
    feeder = Feeder(settings, events, RATE_PER_S)
    workers = [start_worker(settings, tmp_path / f"worker{n}.log") for n in range(2)]
    sinks = start_sinks(settings, tmp_path / "sinks", count=2)
    victim = -1
    try:
        group = settings.worker_group_id
        assert wait_for(lambda: group_size(settings, group) == 2, 120), workers[0].log_tail()
        feeder.start()
        assert wait_for(lambda: counted(settings, now) > 500, 90), workers[0].log_tail()
        victim = coordinator(settings, group)
        cluster.kill_kafka(cluster_layout, victim)
        at_kill = feeder.acknowledged
        assert wait_for(lambda: feeder.acknowledged > at_kill + 1_000, 120), feeder.failures[:3]
        cluster.start_kafka(Settings(), cluster_layout, victim)
        assert feeder.done.wait(180), "the producer did not finish"
        cluster.wait_kafka(cluster_layout, [settings.topics.interactions])

        assert feeder.failures == []
        assert feeder.acknowledged == EVENTS
        wait_drained(settings, group)
        wait_drained(settings, settings.sink.group_id)
        assert_counts_exact(settings, events)
        for worker in workers:
            assert worker.alive, worker.log_tail()
        sinks.check_alive()
        sinks.stop_all()
        assert stored_rows(settings) == (EVENTS, EVENTS)
    finally:
        for worker in workers:
            worker.stop()
        sinks.stop_all()
        for node in range(cluster_layout.kafka_brokers):  # leave every broker running
            cluster.start_kafka(Settings(), cluster_layout, node)
