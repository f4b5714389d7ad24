"""The clustered stack as a session fixture: three KRaft brokers and a Redis Cluster of three
masters with a replica each, started by the tests themselves on loopback ports of their own
(the single-node stack, which the rest of the suite uses, keeps running beside it) and torn
down at the end. Each test gets its own topics (replication factor 3), Redis prefix and chDB
folder, and leaves the cluster healthy (every node up, every partition in sync)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interaction_pipeline.stack import cluster
from schemas.settings import Settings
from tests import services

TEST_KAFKA_PORT = 29192
TEST_REDIS_PORT = 27101
"""Beside the development cluster's ports (29092, 27001), so a developer's cluster is safe."""


@pytest.fixture(scope="session")
def cluster_layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterLayout]:
    layout = cluster.ClusterLayout(
        tmp_path_factory.mktemp("cluster"),
        kafka_port=TEST_KAFKA_PORT,
        redis_port=TEST_REDIS_PORT,
    )
    try:
        cluster.up(Settings(), layout)
        yield layout
    finally:
        cluster.down(layout, purge=True, kill=True)  # its data goes anyway


@pytest.fixture
def cluster_settings(cluster_layout: cluster.ClusterLayout, tmp_path: Path) -> Iterator[Settings]:
    """This test's own topics, prefix and chDB folder on a healthy cluster; the worker WAITs
    for a replica of every Redis master before it commits a batch."""
    cluster.wait_redis(cluster_layout)
    cluster.wait_kafka(cluster_layout)
    base = cluster_layout.settings(Settings()).replace(redis={"wait_replicas": 1})
    unique = services.unique_settings(base, tmp_path)
    stack = services.load_stack()
    topics = stack.pipeline_topics(unique)
    stack.ensure_topics(unique, topics, timeout=60.0)
    cluster.wait_kafka(cluster_layout, topics)
    yield unique
    stack.delete_topics(unique, topics)
