"""The one place Redis clients are built from settings: a single server or a Redis Cluster.

Every process (worker, collector, CLI, erasure) builds its client here, so `REDIS_CLUSTER`
switches all of them at once. On a cluster the client discovers the nodes from the one in
`REDIS_URL`, routes each command to its key's slot, and follows a failover (MOVED replies,
refreshed slot maps). Nothing else changes for callers: every multi-key command and Lua
script of the pipeline keeps its keys inside one hash slot (`stream_processors/keys.py`),
and cluster pipelines are split per node by the client.

No Faust here: the read side imports this.
"""

from __future__ import annotations

from typing import Any, Final

import redis
import redis.asyncio as aioredis
from redis.exceptions import (
    AskError,
    ClusterError,
    ReadOnlyError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from schemas.settings import Settings


def redis_client(settings: Settings, **kwargs: Any) -> redis.Redis[Any]:
    """A synchronous client (`socket_timeout=...`, `decode_responses=...` pass through)."""
    if settings.redis.cluster:
        client: Any = redis.RedisCluster.from_url(_node_url(settings), **kwargs)
        return client  # type: ignore[no-any-return]
    return redis.Redis.from_url(settings.redis.url, **kwargs)


def async_redis_client(settings: Settings, **kwargs: Any) -> aioredis.Redis[Any]:
    """An asyncio client (the worker's), single server or cluster as configured."""
    if settings.redis.cluster:
        client: Any = aioredis.RedisCluster.from_url(_node_url(settings), **kwargs)
        return client  # type: ignore[no-any-return]
    return aioredis.Redis.from_url(settings.redis.url, **kwargs)


def _node_url(settings: Settings) -> str:
    """REDIS_URL without its `/0` (a cluster has one database and redis-py rejects others)."""
    url = settings.redis.url
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    if path not in {"", "0"}:
        raise ValueError(f"REDIS_URL {url!r}: a Redis Cluster has only database 0")
    return f"{scheme}://{host}"


def is_cluster(client: Any) -> bool:
    """True for a cluster client (its keys span slots, so no cross-slot script calls)."""
    return isinstance(client, redis.RedisCluster | aioredis.RedisCluster)


class ReplicasBehindError(RedisConnectionError):
    """WAIT returned before enough replicas held the writes: the batch is retried, not
    committed (transient, as a connection error is), so a failover cannot lose it."""


class ScriptsMissingError(RedisConnectionError):
    """NOSCRIPT again right after loading the scripts: the cluster promoted a replica (whose
    script cache is empty) in between. Transient: the retry loads them on the new master."""


CLUSTER_TRANSIENT: Final = (
    ClusterError,
    TryAgainError,
    AskError,
    SlotNotCoveredError,
    ReadOnlyError,
)
"""Replies of a cluster in failover (slot moving, master down, map out of date): retried."""
