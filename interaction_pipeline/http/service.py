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
from pathlib import Path
from typing import Final

from fastapi import FastAPI

from interaction_pipeline.console import RejectLog, console_router
from interaction_pipeline.erasure import Erasure
from interaction_pipeline.http.app import create_app
from interaction_pipeline.http.console_guard import ConsoleGuard
from interaction_pipeline.http.routes.health import clickhouse_check, redis_check
from interaction_pipeline.http.routes.interactions import interactions_router
from interaction_pipeline.http.routes.popularity import popularity_router
from interaction_pipeline.http.routes.users import users_router
from producers import ProducerBridge
from schemas.settings import Settings
from sinks import migrate, open_backend
from stream_processors import PopularityReader, connection
from stream_processors.identity import IdentityLinks
from stream_processors.keys import RedisKeys
from stream_processors.suppression import RedisTombstones

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S: Final = 5.0
READINESS_LOCK_WAIT_S: Final = 2.0
"""The readiness probe of chDB waits at most this long for the folder (the sink may hold it)."""


def build_app(settings: Settings, *, bridge: ProducerBridge | None = None) -> FastAPI:
    redis_client = connection.redis_client(
        settings,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        decode_responses=True,
    )
    backend = open_backend(settings, hold=False)
    probe_backend = open_backend(
        settings.replace(clickhouse={"chdb_lock_timeout_s": READINESS_LOCK_WAIT_S}), hold=False
    )
    reader = PopularityReader(redis_client, settings)
    if bridge is None:
        # The collector refuses events of forgotten users (never fails for want of Redis).
        tombstones = RedisTombstones(
            redis_client,
            RedisKeys(settings.redis.key_prefix),
            component="collector",
            refresh_s=settings.erasure.refresh_s,
        )
        bridge = ProducerBridge(settings, tombstones=tombstones)
    links = IdentityLinks(redis_client, RedisKeys(settings.redis.key_prefix))
    routers = [
        popularity_router(reader, settings),
        interactions_router(backend, hasher=settings.privacy.hasher, links=links),
        users_router(
            Erasure(settings, backend, redis_client),
            hasher=settings.privacy.hasher,
            links=links,
            wait_s=settings.erasure.request_wait_s,
        ),
    ]

    # The web console (/console): its own admin-scoped guard, and the 422s the collector
    # refuses (this process's, in memory) for its Events page.
    rejects = RejectLog()
    console_guard = ConsoleGuard(settings.http.key_scopes())
    console = console_router(
        settings,
        backend=backend,
        reader=reader,
        rejects=rejects,
        results_root=Path.cwd(),
        data_access=console_guard,
        page_access=console_guard.pages,
    )

    def prepare_clickhouse() -> None:
        try:
            migrate(backend, retention_days=settings.clickhouse.retention_days)
        except Exception as exc:  # keep collecting; /readyz and the read routes say why
            log.error("ClickHouse schema could not be applied at startup: %s", exc)

    def close() -> None:
        backend.close()
        probe_backend.close()
        redis_client.close()

    app = create_app(
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
    app.include_router(console)
    app.state.on_rejected = rejects.record
    return app


def app_from_environment() -> FastAPI:
    """The uvicorn factory (`interactions serve` runs it): settings from the environment."""
    return build_app(Settings())
