"""The popularity store on a Redis Cluster with batches of many features.

On a cluster an apply.lua call holds the features of one hash slot, so the calls' replies do
not come back in the batch's order; each reply must still be merged into its own feature's
trending scores. Batches of 400 features, two per hash slot and the two far apart in the
batch, through one long-lived store, whose later replies are partial (only changed counts);
every trending score must equal the feature's click count, counted here from the events
sent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from redis.crc import key_slot

from schemas.settings import Settings
from schemas.wire import encode
from stream_processors._plan import Planner, Record
from stream_processors._store import PopularityStore
from stream_processors.connection import async_redis_client, redis_client
from stream_processors.keys import RedisKeys
from stream_processors.reader import PopularityReader
from tests.popularity_support import clock_at, event, hour_floor

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

NOW = hour_floor(datetime.now(UTC)) + timedelta(minutes=30)
PAIRS = 200


def _features(keys: RedisKeys) -> list[str]:
    """Two features per slot for PAIRS slots: all the first ones, then all the second ones."""
    by_slot: dict[int, list[str]] = defaultdict(list)
    for i in itertools.count():
        name = f"doc_{i}"
        members = by_slot[key_slot(keys.feature_keys(name)[0].encode())]
        members.append(name)
        if sum(len(m) >= 2 for m in by_slot.values()) == PAIRS:
            break
    pairs = [m[:2] for m in by_slot.values() if len(m) >= 2]
    return [m[0] for m in pairs] + [m[1] for m in pairs]


def _batches(topic: str, features: list[str]) -> list[list[Record]]:
    """Three batches: every feature clicked 1-3 times in the first, then a changing two
    thirds of them again (partial replies), with two partitions in play."""
    offsets = {0: itertools.count(), 1: itertools.count()}

    def record(feature_id: str, partition: int) -> Record:
        value = encode(event(feature_id, NOW - timedelta(minutes=5)))
        return Record(topic, partition, next(offsets[partition]), feature_id.encode(), value)

    first = [record(f, i % 2) for i, f in enumerate(features) for _ in range(1 + i % 3)]
    second = [record(f, i % 2) for i, f in enumerate(features) if i % 3 != 0]
    third = [record(f, i % 2) for i, f in enumerate(features) if i % 3 != 1]
    return [first, second, third]


def test_replies_merge_into_their_own_features_across_slots(cluster_settings: Settings) -> None:
    settings = cluster_settings
    features = _features(RedisKeys(settings.redis.key_prefix))
    batches = _batches(settings.topics.interactions, features)
    now_ms = int(NOW.timestamp() * 1000)

    async def apply_all() -> None:
        client = async_redis_client(settings, socket_timeout=10)
        try:
            store = PopularityStore(client, settings, clock=clock_at(NOW))
            for records in batches:
                await store.apply(Planner(settings).plan(records, now_ms))
        finally:
            await client.aclose()

    asyncio.run(apply_all())

    want = Counter(r.key.decode() for records in batches for r in records)
    client = redis_client(settings, socket_timeout=10)
    try:
        reader = PopularityReader(client, settings, clock=clock_at(NOW))
        trending = reader.trending("click", 1, len(features))
        counts = reader.counts(features, ["click"], 1)
    finally:
        client.close()
    assert {f: c["click"] for f, c in counts.items()} == dict(want)
    assert {item.feature_id: item.score for item in trending} == {
        f: float(n) for f, n in want.items()
    }
