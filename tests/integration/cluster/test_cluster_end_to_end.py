"""The whole pipeline on the cluster: HTTP collector -> Kafka (3 brokers) -> worker and sink
-> Redis Cluster and chDB, read back over HTTP (counts, trending, boost, history, stored
events), then GDPR deletions (one event, a whole user) across the cluster's slots.

The checks are those of the single-node end-to-end test, run unchanged against the cluster:
what differs is only configuration (REDIS_CLUSTER, the brokers, replication factor 3).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interaction_pipeline.orchestration import Children
from schemas.settings import Settings
from tests.integration.http.test_http_end_to_end import (
    running_pipeline,
)
from tests.integration.http.test_http_end_to_end import (
    test_posted_events_reach_redis_counts_and_clickhouse as single_node_checks,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.cluster]


@pytest.fixture
def pipeline(cluster_settings: Settings, tmp_path: Path) -> Iterator[tuple[Children, str]]:
    with running_pipeline(cluster_settings, tmp_path, "sink-cluster-e2e") as running:
        yield running


def test_collector_worker_sink_readers_and_forget_user_on_the_cluster(
    pipeline: tuple[Children, str],
) -> None:
    single_node_checks(pipeline)
