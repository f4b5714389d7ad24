"""The HTTP collector: the seed's POST /v1/retrievers/interactions over FastAPI.

`create_app(settings, read_routers=...)` builds the service; `interactions serve` runs it with
the read routes of stream_processors/ and sinks/ added.
"""

from producers.http._app import create_app
from producers.http._auth import ApiKeyGuard, is_loopback
from producers.http._bridge import BatchOutcome, ProducerBridge
from producers.http._health import Check, KafkaCheck
from producers.http._ingest import INTERACTIONS_PATH, SEARCHES_PATH
from producers.http._limits import MAX_EVENTS_PER_REQUEST
from producers.http._metrics import ServiceMetrics
from producers.http._server import free_port, serve_in_thread

__all__ = [
    "INTERACTIONS_PATH",
    "MAX_EVENTS_PER_REQUEST",
    "SEARCHES_PATH",
    "ApiKeyGuard",
    "BatchOutcome",
    "Check",
    "KafkaCheck",
    "ProducerBridge",
    "ServiceMetrics",
    "create_app",
    "free_port",
    "is_loopback",
    "serve_in_thread",
]
