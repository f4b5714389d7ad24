"""The clustered stack as a session fixture: three KRaft brokers and a Redis Cluster of three
masters with a replica each, started by the tests themselves on free loopback ports of their own
(the single-node stack, which the rest of the suite uses, keeps running beside it) and torn
down at the end. Each test gets its own topics (replication factor 3), Redis prefix and chDB
folder, and leaves the cluster healthy (every node up, every partition in sync)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from interaction_pipeline.stack import cluster
from interaction_pipeline.stack.local import _port_open
from schemas.settings import Settings
from tests import services

PORT_BLOCKS = range(20)
"""Candidate port blocks, 10 apart: Kafka from 29200, Redis from 27200 (bus +1000). Apart from
the development cluster's (29092, 27001), and a free block is picked at random, so a
developer's cluster and another test session on the same machine are never touched."""


def _free_layout(folder: Path) -> cluster.ClusterLayout:
    """A layout whose every port (brokers, controllers, Redis, cluster bus) is free now."""
    blocks = list(PORT_BLOCKS)
    random.shuffle(blocks)
    for block in blocks:
        layout = cluster.ClusterLayout(
            folder, kafka_port=29200 + 10 * block, redis_port=27200 + 10 * block
        )
        ports = [layout.broker_port(n) + k for n in range(layout.kafka_brokers) for k in (0, 1)]
        ports += layout.redis_ports + [p + cluster.BUS_OFFSET for p in layout.redis_ports]
        if not any(_port_open("127.0.0.1", port) for port in ports):
            return layout
    raise RuntimeError("no free block of loopback ports for the test cluster")


@pytest.fixture(scope="session")
def cluster_layout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterLayout]:
    layout = _free_layout(tmp_path_factory.mktemp("cluster"))
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
