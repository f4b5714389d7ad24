"""The write side of the seed API: POST /v1/retrievers/interactions and /v1/retrievers/searches.

The body is read raw and validated event by event (not by FastAPI's body parsing) so that one
bad event in a batch of 1,000 is reported by its index while the others are published, and
so that every error names the field with the same sentences as the SDK (schemas.errors).
The response is sent only after Kafka acknowledged every accepted event.

Status codes: 200 all accepted; 207 some accepted, see `failures`; 422 nothing accepted
because the input is invalid; 409 nothing accepted because the events belong to a forgotten
user (GDPR tombstone; the event time is at or before the erasure request); 503 nothing
accepted because Kafka did not acknowledge (retry
with the same event_ids: they are idempotency keys); 413 body or batch too large; 415 not JSON.
A `text/plain` body (a browser's `navigator.sendBeacon`) is read as JSON too, when the request
comes from no web page or from an origin of `HTTP_CORS_ALLOWED_ORIGINS` (else 403).

Events refused as invalid (and unusable bodies) are also handed to `app.state.on_rejected`
when the assembly sets one (`RejectHook`: the console's log of 422s, so "why is my event not
counted?" has an answer); events of forgotten users never are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request, Response

from interaction_pipeline.http.body import BodyError, check_content_type, is_beacon, parse_events
from interaction_pipeline.http.cors import beacon_refusal
from interaction_pipeline.http.limits import MAX_EVENTS_PER_REQUEST
from interaction_pipeline.http.metrics import ServiceMetrics
from interaction_pipeline.http.models import ErrorBody, IngestResult
from producers import BatchOutcome, ProducerBridge
from schemas.errors import SuppressedUserError, http_status
from schemas.events import Event, InteractionEvent, SearchEvent

RejectHook = Callable[[str, Sequence[tuple[int | None, Any, Sequence[str]]]], None]
"""Called with the route's kind and (index, raw event or body, errors) of each refused event."""

INTERACTIONS_PATH: Final = "/v1/retrievers/interactions"
SEARCHES_PATH: Final = "/v1/retrievers/searches"
RETRY_AFTER_S: Final = "5"

_SEED_EXAMPLE: Final = {
    "feature_id": "doc_xyz789",
    "interaction_type": ["click", "long_view"],
    "position": 3,
    "metadata": {"duration_ms": 4500, "query": "wireless earbuds"},
    "user_id": "user_123",
    "session_id": "sess_456",
}
_SEARCH_EXAMPLE: Final = {
    "query_id": "q_8f2c",
    "query": "wireless earbuds",
    "results": ["doc_xyz789", "doc_abc123", "doc_def456"],
    "total_hits": 124,
    "user_id": "user_123",
    "session_id": "sess_456",
    "retriever_id": "ret_123",
}


def _request_body(model: type[Event], wrapper_key: str, example: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI requestBody: one event, an array, or a wrapper object, with examples."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    batch = {"type": "array", "items": ref, "minItems": 1, "maxItems": MAX_EVENTS_PER_REQUEST}
    wrapper = {
        "type": "object",
        "properties": {wrapper_key: batch},
        "required": [wrapper_key],
        "additionalProperties": False,
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [ref, batch, wrapper]},
                "examples": {
                    "one": {"summary": "One event (the seed's shape)", "value": example},
                    "array": {"summary": "A batch as a JSON array", "value": [example, example]},
                    "wrapped": {
                        "summary": f'A batch as {{"{wrapper_key}": [...]}}',
                        "value": {wrapper_key: [example]},
                    },
                },
            }
        },
    }


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"model": IngestResult, "description": "Every event acknowledged by Kafka."},
    207: {"model": IngestResult, "description": "Some events accepted; `failures` by index."},
    413: {"model": ErrorBody, "description": "Body over the byte limit or over 1,000 events."},
    415: {"model": ErrorBody, "description": "Content-Type is not JSON (nor text/plain)."},
    409: {"model": IngestResult, "description": "Nothing accepted: a forgotten user's events."},
    422: {"model": IngestResult, "description": "Nothing accepted: invalid input, by field."},
    503: {"model": IngestResult, "description": "Kafka did not acknowledge; retry."},
}


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


def _result(outcome: BatchOutcome) -> tuple[int, dict[str, Any]]:
    failures: list[dict[str, Any]] = [
        {"index": i, "event_id": None, "errors": errs, "retryable": False}
        for i, errs in outcome.invalid.items()
    ]
    failures += [
        {"index": i, "event_id": outcome.event_ids[i], "errors": [reason], "retryable": True}
        for i, reason in outcome.not_delivered.items()
    ]
    failures += [
        {"index": i, "event_id": None, "errors": [reason], "retryable": False}
        for i, reason in outcome.suppressed.items()
    ]
    failures.sort(key=lambda f: f["index"])
    delivered = outcome.delivered
    if delivered == outcome.size:
        status, detail = 200, None
    elif delivered:
        status = 207
        detail = f"{outcome.size - delivered} of {outcome.size} events not accepted"
    elif outcome.not_delivered:
        status, detail = 503, "Kafka did not acknowledge the events; retry with the same event_ids"
    elif outcome.suppressed and not outcome.invalid:
        status = http_status(SuppressedUserError(""))
        detail = next(iter(outcome.suppressed.values()))
    elif outcome.size == 1:
        status, detail = 422, "; ".join(outcome.invalid[0])
    else:
        status, detail = 422, f"all {outcome.size} events are invalid"
    payload = {
        "received": outcome.size,
        "accepted": delivered,
        "event_ids": outcome.event_ids,
        "failures": failures,
        "detail": detail,
    }
    return status, payload


def _body_failure(reason: str) -> dict[str, Any]:
    return {
        "received": 0,
        "accepted": 0,
        "event_ids": [],
        "failures": [{"index": None, "event_id": None, "errors": [reason], "retryable": False}],
        "detail": reason,
    }


def _report_rejected(
    request: Request, kind: str, refused: Sequence[tuple[int | None, Any, Sequence[str]]]
) -> None:
    hook: RejectHook | None = getattr(request.app.state, "on_rejected", None)
    if hook is not None and refused:
        hook(kind, refused)


def ingest_router(bridge: ProducerBridge, metrics: ServiceMetrics) -> APIRouter:
    """Routes that publish events through `bridge` (one long-lived producer per process)."""
    router = APIRouter(tags=["collect"])

    async def ingest(request: Request, model: type[Event], wrapper_key: str) -> Response:
        kind = "interaction" if model is InteractionEvent else "search"
        content_type = request.headers.get("content-type")
        if is_beacon(content_type):
            allowed = request.app.state.settings.http.cors_allowed_origins
            refused = beacon_refusal(request.headers.get("origin"), allowed)
            if refused is not None:
                return _json(403, {"detail": refused, "errors": [refused]})
        else:
            problem = check_content_type(content_type)
            if problem is not None:
                return _json(415, {"detail": problem, "errors": [problem]})
        body = await request.body()
        try:
            raw = parse_events(body, wrapper_key)
        except BodyError as exc:
            _report_rejected(request, kind, [(None, body, [str(exc)])])
            return _json(422, _body_failure(str(exc)))
        metrics.batch_size.labels(kind).observe(len(raw))
        started = time.perf_counter()
        outcome = await bridge.send(raw, model)
        metrics.ack_latency.labels(kind).observe(time.perf_counter() - started)
        status, payload = _result(outcome)
        _report_rejected(request, kind, [(i, raw[i], e) for i, e in outcome.invalid.items()])
        metrics.events.labels(kind, "accepted").inc(outcome.delivered)
        metrics.events.labels(kind, "invalid").inc(len(outcome.invalid))
        metrics.events.labels(kind, "not_delivered").inc(len(outcome.not_delivered))
        metrics.events.labels(kind, "suppressed").inc(len(outcome.suppressed))
        headers = {"Retry-After": RETRY_AFTER_S} if status == 503 else None
        return _json(status, payload, headers)

    @router.post(
        INTERACTIONS_PATH,
        summary="Record interactions (one event or a batch of up to 1,000)",
        response_model=IngestResult,
        responses=_RESPONSES,
        openapi_extra={
            "requestBody": _request_body(InteractionEvent, "interactions", _SEED_EXAMPLE)
        },
    )
    async def post_interactions(request: Request) -> Response:
        """Validate each event, publish the valid ones to the interactions topic, and answer
        once Kafka acknowledged them. Invalid events are reported by index with the field
        that is wrong; they never block the valid ones."""
        return await ingest(request, InteractionEvent, "interactions")

    @router.post(
        SEARCHES_PATH,
        summary="Record search events: the result list served for a query",
        response_model=IngestResult,
        responses=_RESPONSES,
        openapi_extra={"requestBody": _request_body(SearchEvent, "searches", _SEARCH_EXAMPLE)},
    )
    async def post_searches(request: Request) -> Response:
        """Same contract as POST /v1/retrievers/interactions, for SearchEvents. Sending them
        makes true CTR (clicks over impressions), skip-above negatives and zero-result
        reports possible."""
        return await ingest(request, SearchEvent, "searches")

    return router


EVENT_SCHEMAS: Final = {
    InteractionEvent.__name__: InteractionEvent.model_json_schema(
        ref_template="#/components/schemas/{model}"
    ),
    SearchEvent.__name__: SearchEvent.model_json_schema(
        ref_template="#/components/schemas/{model}"
    ),
}
"""Component schemas the hand-written request bodies refer to (added by the app factory)."""
