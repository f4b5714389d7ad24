"""The clustered stack's layout and configuration, without starting anything: ports apart
from the single-node stack, every topic and internal topic replicated, the settings and
environment that point the pipeline at it, and the Redis client factory's URL rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from interaction_pipeline.cli.main import app
from interaction_pipeline.stack import cluster
from schemas.errors import StackError
from schemas.settings import Settings
from stream_processors.connection import _node_url, is_cluster, redis_client

pytestmark = pytest.mark.unit


def test_ports_do_not_clash_with_the_single_node_stack(tmp_path: Path) -> None:
    layout = cluster.ClusterLayout(tmp_path)
    single = Settings()
    kafka = {layout.broker_port(n) + k for n in range(3) for k in (0, 1)}
    redis = set(layout.redis_ports) | {p + cluster.BUS_OFFSET for p in layout.redis_ports}
    taken = {single.kafka.host_port[1], single.kafka.host_port[1] + 1, single.redis.host_port[1]}
    assert len(kafka) == 6 and len(redis) == 12
    assert not (kafka | redis) & taken
    assert not kafka & redis
    assert max(kafka | redis) < 32768  # below Linux's ephemeral range


def test_every_node_replicates_everything_with_min_isr_two(tmp_path: Path) -> None:
    layout = cluster.ClusterLayout(tmp_path)
    text = cluster.kafka_properties(layout, 1, partitions=4)
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert lines["node.id"] == "2"
    assert lines["controller.quorum.voters"] == (
        "1@127.0.0.1:29093,2@127.0.0.1:29095,3@127.0.0.1:29097"
    )
    assert lines["listeners"] == "PLAINTEXT://127.0.0.1:29094,CONTROLLER://127.0.0.1:29095"
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
    ):
        assert lines[key] == "3", key
    assert lines["min.insync.replicas"] == lines["transaction.state.log.min.isr"] == "2"
    assert lines["unclean.leader.election.enable"] == "false"


def test_settings_and_environment_point_at_the_cluster(tmp_path: Path) -> None:
    layout = cluster.ClusterLayout(tmp_path, kafka_port=29192, redis_port=27101)
    settings = layout.settings(Settings())
    assert settings.kafka.bootstrap_servers == "127.0.0.1:29192,127.0.0.1:29194,127.0.0.1:29196"
    assert settings.topics.replication_factor == 3
    assert settings.redis.cluster and settings.redis.url == "redis://127.0.0.1:27101/0"
    env = layout.environment()
    assert env["REDIS_CLUSTER"] == "true" and env["REDIS_WAIT_REPLICAS"] == "1"
    assert Settings().replace(redis={"cluster": env["REDIS_CLUSTER"]}).redis.cluster


@pytest.mark.parametrize(("brokers", "masters"), [(2, 3), (3, 2), (6, 3), (3, 9)])
def test_cluster_sizes_outside_the_supported_range_are_refused(
    tmp_path: Path, brokers: int, masters: int
) -> None:
    with pytest.raises(StackError):
        cluster.ClusterLayout(tmp_path, kafka_brokers=brokers, redis_masters=masters)


def test_half_a_cluster_is_refused_by_the_cli() -> None:
    result = CliRunner().invoke(app, ["stack", "up", "--kafka-brokers", "3"])
    assert result.exit_code == 1
    assert "--redis-cluster" in result.output


def test_cluster_urls_keep_database_zero_only() -> None:
    clustered = Settings().replace(redis={"cluster": True, "url": "redis://127.0.0.1:27001/0"})
    assert _node_url(clustered) == "redis://127.0.0.1:27001"
    with pytest.raises(ValueError, match="only database 0"):
        _node_url(clustered.replace(redis={"url": "redis://127.0.0.1:27001/3"}))


def test_single_server_client_is_a_plain_redis() -> None:
    client = redis_client(Settings(), socket_timeout=1)  # connects lazily: no server needed
    try:
        assert not is_cluster(client)
    finally:
        client.close()
