"""The whole HTTP service: the collector (producers/) plus the read routes of
stream_processors/ and sinks/, with their readiness checks and lifecycles.

The CLI is the one place allowed to import all three packages, so the assembly lives here.
`app_from_environment` is the uvicorn factory: each worker process is an edge that builds its
settings once, and its own single long-lived Kafka producer.

ClickHouse: the schema is migrated at startup (idempotent). If ClickHouse cannot be reached
then, the service still starts, since collecting events needs only Kafka: the failure is
logged, /readyz reports it, and the read routes answer 503 until it is back.
"""

from __future__ import annotations

import logging
from typing import Final

import redis
from fastapi import FastAPI

from interactions_cli.context import get_settings
from producers.http import ProducerBridge, create_app
from schemas.redis_keys import RedisKeys
from schemas.settings import Settings
from sinks import migrate, open_backend
from sinks.http_routes import clickhouse_check, interactions_router
from stream_processors import PopularityReader
from stream_processors.http_routes import popularity_router, redis_check

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S: Final = 5.0
READINESS_LOCK_WAIT_S: Final = 2.0
"""The readiness probe of chDB waits at most this long for the folder (the sink may hold it)."""


def build_app(settings: Settings, *, bridge: ProducerBridge | None = None) -> FastAPI:
    redis_client = redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        decode_responses=True,
    )
    backend = open_backend(settings, hold=False)
    probe_backend = open_backend(
        settings.model_copy(update={"chdb_lock_timeout_s": READINESS_LOCK_WAIT_S}), hold=False
    )
    hmac_key = settings.user_id_hmac_key.get_secret_value() if settings.user_id_hmac_key else None
    reader = PopularityReader(redis_client, settings)
    routers = [
        popularity_router(
            reader,
            default_window_days=settings.default_window_days,
            type_weights=settings.type_weights,
            user_id_hmac_key=hmac_key,
        ),
        interactions_router(
            backend,
            redis_client=redis_client,
            redis_keys=RedisKeys(settings.redis_key_prefix),
            user_id_hmac_key=hmac_key,
        ),
    ]

    def prepare_clickhouse() -> None:
        try:
            migrate(backend, retention_days=settings.clickhouse_retention_days)
        except Exception as exc:  # keep collecting; /readyz and the read routes say why
            log.error("ClickHouse schema could not be applied at startup: %s", exc)

    def close() -> None:
        backend.close()
        probe_backend.close()
        redis_client.close()

    return create_app(
        settings,
        bridge=bridge,
        read_routers=routers,
        readiness={
            "redis": redis_check(redis_client),
            "clickhouse": clickhouse_check(probe_backend),
        },
        on_startup=[prepare_clickhouse],
        on_shutdown=[close],
    )


def app_from_environment() -> FastAPI:
    return build_app(get_settings())
