"""The HTTP service: the seed's routes over FastAPI, assembled in one place.

`build_app(settings)` builds the whole service (ingest, popularity, stored interactions, user
erasure, health, metrics); `app_from_environment` is the uvicorn factory `interactions serve`
uses. One module per route group lives under `interaction_pipeline.http.routes`.
"""

from interaction_pipeline.http.app import create_app
from interaction_pipeline.http.auth import ApiKeyGuard, is_loopback
from interaction_pipeline.http.limits import MAX_EVENTS_PER_REQUEST
from interaction_pipeline.http.metrics import ServiceMetrics
from interaction_pipeline.http.routes.health import Check, KafkaCheck
from interaction_pipeline.http.routes.ingest import INTERACTIONS_PATH, SEARCHES_PATH
from interaction_pipeline.http.server import free_port, serve_in_thread
from interaction_pipeline.http.service import app_from_environment, build_app

__all__ = [
    "INTERACTIONS_PATH",
    "MAX_EVENTS_PER_REQUEST",
    "SEARCHES_PATH",
    "ApiKeyGuard",
    "Check",
    "KafkaCheck",
    "ServiceMetrics",
    "app_from_environment",
    "build_app",
    "create_app",
    "free_port",
    "is_loopback",
    "serve_in_thread",
]
