"""Request size limits: refuse oversize bodies with 413 before they are buffered whole.

A declared Content-Length above the limit is refused before any byte of the body is read; a
chunked body is counted as it streams in and refused as soon as it passes the limit. The
error is an HTTPException so that FastAPI's body parsing passes it through as a 413 instead of
turning it into a generic 400.
"""

from __future__ import annotations

from typing import Final

import orjson
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_EVENTS_PER_REQUEST: Final = 1_000
"""Events per POST; larger batches get 413 (split them: Kafka batches them again anyway)."""


class PayloadTooLarge(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


def too_large_detail(max_bytes: int, got: int | None = None) -> str:
    seen = f", got {got}" if got is not None else ""
    return f"body: must be at most {max_bytes} bytes{seen}"


class BodyLimitMiddleware:
    """Pure ASGI (no per-request task or buffering overhead, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_413(send, too_large_detail(self.max_bytes, declared))
            return
        received = 0
        limit = self.max_bytes

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(too_large_detail(limit))
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, detail: str) -> None:
    body = orjson.dumps({"detail": detail, "errors": [detail]})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
