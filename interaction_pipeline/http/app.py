"""The HTTP service's app factory: the collector, plus whatever read routers the caller adds.

producers/ must not import stream_processors/ or sinks/, so the read routes (popularity,
stored interactions, GDPR) are handed in by the caller (`interactions serve` assembles them);
this module owns what every route shares: API keys, size limits, metrics, health and
readiness, error bodies, and the OpenAPI document.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from interaction_pipeline.http.auth import ApiKeyGuard
from interaction_pipeline.http.cors import add_cors
from interaction_pipeline.http.errors import install_error_handlers
from interaction_pipeline.http.limits import BodyLimitMiddleware
from interaction_pipeline.http.metrics import MetricsMiddleware, ServiceMetrics
from interaction_pipeline.http.models import ErrorBody
from interaction_pipeline.http.routes.health import Check, KafkaCheck, health_router
from interaction_pipeline.http.routes.ingest import EVENT_SCHEMAS, ingest_router
from producers import ProducerBridge
from schemas.settings import Settings

API_VERSION = "1"
DESCRIPTION = """\
Collects search interactions (the seed's `POST /v1/retrievers/interactions`, field for field)
and serves what rerankers and analysts read back.

* **Auth**: send an API key as `X-API-Key` (or `Authorization: Bearer`). Keys have scopes
  (`HTTP_API_KEY_SCOPES`): `ingest` for the POST ingest routes, `read` for GET routes and the
  popularity counts and boost, `admin` for DELETE routes; a key of `HTTP_API_KEYS` has all
  three. 401: no key or an unknown one; 403: the key lacks the route's scope. With no key
  configured only loopback clients are served.
* **Limits**: at most 1,000 events per POST and `HTTP_MAX_BODY_BYTES` per body (413 above).
* **Delivery**: a POST answers only after Kafka acknowledged the events; `event_id` is the
  idempotency key, so retrying a 503 or the failed indices of a 207 never double counts.
"""


_V1_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not readable (e.g. not UTF-8 JSON)."},
    401: {"model": ErrorBody, "description": "API key missing or not valid."},
    403: {
        "model": ErrorBody,
        "description": "The key lacks this route's scope (or no keys configured and not a "
        "loopback client).",
    },
    404: {"model": ErrorBody, "description": "No such resource (or a path that matches none)."},
    413: {"model": ErrorBody, "description": "Body over HTTP_MAX_BODY_BYTES."},
}


def create_app(
    settings: Settings,
    *,
    bridge: ProducerBridge | None = None,
    read_routers: Sequence[APIRouter] = (),
    readiness: Mapping[str, Check] | None = None,
    on_startup: Sequence[Callable[[], None]] = (),
    on_shutdown: Sequence[Callable[[], None]] = (),
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    """Build the service. `readiness` adds checks to the Kafka one (e.g. redis, clickhouse);
    `on_startup`/`on_shutdown` open and close what the read routers use."""
    bridge = bridge or ProducerBridge(settings)
    metrics = metrics or ServiceMetrics()
    kafka_check = KafkaCheck(settings)
    checks: dict[str, Check] = {"kafka": kafka_check, **(readiness or {})}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        bridge.start()
        for start in on_startup:
            await asyncio.to_thread(start)
        try:
            yield
        finally:
            for stop in reversed(on_shutdown):
                await asyncio.to_thread(stop)
            await asyncio.to_thread(bridge.close)
            kafka_check.close()

    app = FastAPI(
        title="interaction-pipeline",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    guard = ApiKeyGuard(settings.http.key_scopes())
    app.state.settings = settings
    app.state.bridge = bridge
    app.state.metrics = metrics
    for router in (ingest_router(bridge, metrics), *read_routers):
        app.include_router(router, dependencies=[Depends(guard)], responses=_V1_RESPONSES)
    app.include_router(health_router(checks))

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.http.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    add_cors(app, settings.http.cors_allowed_origins)  # outermost: 413s get CORS headers too
    _add_event_schemas(app)
    return app


def _add_event_schemas(app: FastAPI) -> None:
    """The POST bodies are documented by hand (see _ingest); add the schemas they refer to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(EVENT_SCHEMAS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
