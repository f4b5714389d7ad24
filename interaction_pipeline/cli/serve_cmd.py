"""`interactions serve`: the HTTP collector and API (FastAPI on uvicorn).

The app is assembled in interactions_cli/http_app.py (the CLI is the one place allowed to
import producers/, stream_processors/ and sinks/ together).
"""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from interaction_pipeline.cli.context import err_console, get_settings
from interaction_pipeline.http import is_loopback

APP_FACTORY = "interaction_pipeline.http.service:app_from_environment"


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to bind; default HTTP_HOST (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind; default HTTP_PORT (8080).", min=0)
    ] = None,
    workers: Annotated[
        int,
        typer.Option(help="Worker processes, each with its own Kafka producer.", min=1),
    ] = 1,
    log_level: Annotated[
        str, typer.Option(help="uvicorn log level: critical, error, warning, info, debug.")
    ] = "info",
    access_log: Annotated[
        bool, typer.Option(help="Log every request (costs throughput at high rates).")
    ] = False,
) -> None:
    """Serve POST/GET/DELETE /v1/retrievers/interactions, the popularity read API, /healthz,
    /readyz, /metrics and the OpenAPI docs at /docs. Stops cleanly on Ctrl-C / SIGTERM."""
    settings = get_settings()
    bind_host = host or settings.http.host
    bind_port = settings.http.port if port is None else port
    if not settings.http.key_scopes() and not is_loopback(bind_host):
        err_console.print(
            f"[yellow]no HTTP_API_KEYS configured: /v1 answers only loopback clients, "
            f"although the service binds {bind_host}[/yellow]"
        )
    err_console.print(
        f"serving on http://{bind_host}:{bind_port} (docs at /docs, metrics at /metrics)"
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
