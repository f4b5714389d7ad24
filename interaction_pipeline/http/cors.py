"""Cross-origin access for pages that call the collector (the browser SDK, producers/browser).

`HTTP_CORS_ALLOWED_ORIGINS` lists the web origins whose pages may call the API. Browsers then
get the CORS headers they need to read the answers (status, `Retry-After`) and to send the
preflighted requests (JSON bodies with `X-API-Key`, e.g. the identify route).

The SDK's event POSTs are CORS "simple" requests (a `text/plain` body, the key in `?api_key=`)
so that the same request works as `navigator.sendBeacon` while the page unloads, where a
preflight cannot be relied on. A simple request reaches the handler whatever its origin, so the
ingest routes refuse a `text/plain` body sent from an origin that is not allowed
(`beacon_refusal`): a page on another site cannot post form-encoded events into a collector
it was not allowed to call (with no keys configured, a developer's loopback service).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOWED_HEADERS: Final = ("content-type", "x-api-key", "authorization")
EXPOSED_HEADERS: Final = ("retry-after",)
PREFLIGHT_MAX_AGE_S: Final = 600


def add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Answer preflights and add CORS headers for `origins` (nothing when empty)."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE_S,
    )


def beacon_refusal(origin: str | None, allowed: Sequence[str]) -> str | None:
    """Why a text/plain body from `origin` is refused (403), or None. No Origin header: not
    sent by a page (curl, a server), so the API key alone decides."""
    if origin is None or "*" in allowed or origin in allowed:
        return None
    return (
        f"origin: {origin!r} is not in HTTP_CORS_ALLOWED_ORIGINS, so its text/plain (beacon) "
        "bodies are refused"
    )
