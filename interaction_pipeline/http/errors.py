"""Error handlers: every error body is `{"detail": "...", "errors": ["field: rule", ...]}`.

Errors of the pipeline's hierarchy (schemas.errors) take their status from it: a bad argument
422, a missing resource 404, a store that does not answer 503 with Retry-After.
FastAPI's own 422 for query/path parameters is rewritten into the same sentences the SDK and
the POST endpoints use (`query.limit: must be <= 1000, got 5000`), and an unexpected exception
becomes a logged 500 with no internals in the body.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from schemas.errors import InteractionPipelineError, http_status
from schemas.validation import describe

log = logging.getLogger(__name__)


def _json(status: int, detail: str, errors: list[str], headers: Any = None) -> Response:
    body = orjson.dumps({"detail": detail, "errors": errors})
    return Response(body, status, headers, media_type="application/json")


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # describe() only reads .errors(); a RequestValidationError has the same shape.
    lines = describe(exc)  # type: ignore[arg-type]
    return _json(422, "; ".join(lines), lines)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else orjson.dumps(exc.detail).decode()
    return _json(exc.status_code, detail, [detail] if exc.status_code < 500 else [], exc.headers)


async def _pydantic_error(_request: Request, exc: Exception) -> Response:
    """A model built inside a handler from user input (e.g. a boost config) failed."""
    assert isinstance(exc, ValidationError)
    lines = describe(exc)
    return _json(422, "; ".join(lines), lines)


async def _pipeline_error(_request: Request, exc: Exception) -> Response:
    """Status codes come from the error hierarchy (schemas.errors.HTTP_STATUS)."""
    assert isinstance(exc, InteractionPipelineError)
    status = http_status(exc)
    if status >= 500 and status != 503:
        return await _unexpected(_request, exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    detail = str(exc)
    return _json(status, detail, [detail] if status < 500 else [], headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(500, "internal error; the service log has the details", [])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ValidationError, _pydantic_error)
    app.add_exception_handler(InteractionPipelineError, _pipeline_error)
    app.add_exception_handler(Exception, _unexpected)
