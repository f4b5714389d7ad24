"""The collector's request handling without services: body shapes, limits, keys, statuses."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from fastapi import HTTPException
from fastapi.routing import APIRoute
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from interaction_pipeline.http import MAX_EVENTS_PER_REQUEST, ApiKeyGuard, is_loopback
from interaction_pipeline.http.body import BodyError, check_content_type, parse_events
from interaction_pipeline.http.limits import BodyLimitMiddleware, PayloadTooLarge
from interaction_pipeline.http.routes.ingest import INTERACTIONS_PATH, _result
from producers import BatchOutcome
from schemas.settings import Settings

pytestmark = pytest.mark.unit

EVENT = {"feature_id": "doc_1", "interaction_type": ["click"]}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (EVENT, [EVENT]),
        ([EVENT, EVENT], [EVENT, EVENT]),
        ({"interactions": [EVENT]}, [EVENT]),
        ([1, "x", None], [1, "x", None]),  # per-event validation reports these by index
    ],
)
def test_body_shapes(body: Any, expected: list[Any]) -> None:
    assert parse_events(orjson.dumps(body), "interactions") == expected


def test_a_wrapper_key_of_the_other_endpoint_is_an_event_object() -> None:
    # {"searches": [...]} sent to the interactions endpoint is one (invalid) event, so the
    # client hears "searches: is not a known field" rather than a silent reinterpretation.
    assert parse_events(b'{"searches": []}', "interactions") == [{"searches": []}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "body: not valid JSON"),
        (b"nul", "body: not valid JSON"),
        (b'"text"', "body: must be an event object, an array of events or"),
        (b"[]", "body: must contain at least one event"),
        (b'{"interactions": [], "more": 1}', "body: more: is not a known field"),
    ],
)
def test_unusable_bodies(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match="^" + message.replace("[", r"\[")):
        parse_events(body, "interactions")


def test_the_event_count_limit_is_inclusive() -> None:
    assert len(parse_events(orjson.dumps([EVENT] * MAX_EVENTS_PER_REQUEST), "x")) == 1000
    with pytest.raises(PayloadTooLarge) as raised:
        parse_events(orjson.dumps({"x": [EVENT] * (MAX_EVENTS_PER_REQUEST + 1)}), "x")
    assert raised.value.status_code == 413


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_any_bytes_parse_or_fail_with_a_client_error(body: bytes) -> None:
    try:
        items = parse_events(body, "interactions")
    except (BodyError, PayloadTooLarge):
        return  # both become 4xx answers
    assert 1 <= len(items) <= MAX_EVENTS_PER_REQUEST


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (None, True),
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("text/plain", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_content_types(header: str | None, ok: bool) -> None:
    assert (check_content_type(header) is None) is ok


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("testclient", False),
        (None, False),
    ],
)
def test_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _request(client_host: str, method: str = "POST", path: str = INTERACTIONS_PATH) -> Request:
    async def endpoint() -> None:
        return None

    route = APIRoute(path, endpoint, methods=[method])
    return Request(
        {
            "type": "http",
            "method": method,
            "headers": [],
            "client": (client_host, 1),
            "route": route,
        }
    )


def test_guard_without_keys_serves_loopback_and_refuses_others() -> None:
    guard = ApiKeyGuard({})
    guard(_request("127.0.0.1"))
    with pytest.raises(HTTPException) as raised:
        guard(_request("192.0.2.1"))
    assert raised.value.status_code == 403


def test_guard_with_keys_checks_them_for_every_client() -> None:
    guard = ApiKeyGuard(Settings(http_api_keys=[SecretStr("secret")]).http.key_scopes())
    guard(_request("192.0.2.1"), api_key="secret")
    for given_key in (None, "", "secre", "secret2"):
        with pytest.raises(HTTPException) as raised:
            guard(_request("127.0.0.1"), api_key=given_key)
        assert raised.value.status_code == 401


@pytest.mark.parametrize(
    ("invalid", "not_delivered", "size", "status"),
    [
        ({}, {}, 3, 200),
        ({1: ["position: bad"]}, {}, 3, 207),
        ({}, {2: "timeout"}, 3, 207),
        ({0: ["a"], 1: ["b"]}, {}, 2, 422),
        ({0: ["a"]}, {1: "timeout"}, 2, 503),
        ({}, {0: "timeout"}, 1, 503),
    ],
)
def test_status_codes(
    invalid: dict[int, list[str]], not_delivered: dict[int, str], size: int, status: int
) -> None:
    ids: list[str | None] = [None if i in invalid else f"id{i}" for i in range(size)]
    outcome = BatchOutcome(size, ids, invalid, not_delivered)
    got, payload = _result(outcome)
    assert got == status
    assert payload["accepted"] == size - len(invalid) - len(not_delivered)
    assert [f["index"] for f in payload["failures"]] == sorted([*invalid, *not_delivered])
    assert all(f["retryable"] == (f["index"] in not_delivered) for f in payload["failures"])


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """A tiny ASGI app that reads the whole body and answers with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _call(body_chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> list[Message]:
    middleware = BodyLimitMiddleware(_echo, max_bytes=10)
    sent: list[Message] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(body_chunks) - 1}
        for i, c in enumerate(body_chunks)
    ]

    async def receive() -> Message:
        return pending.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent


def test_limit_middleware_refuses_a_declared_oversize_body_without_reading_it() -> None:
    sent = _call([b"x" * 11], [(b"content-length", b"11")])
    assert sent[0]["status"] == 413
    assert orjson.loads(sent[1]["body"])["detail"] == "body: must be at most 10 bytes, got 11"


def test_limit_middleware_counts_streamed_bodies() -> None:
    assert _call([b"x" * 5, b"x" * 5], [])[1]["body"] == b"10"
    with pytest.raises(PayloadTooLarge):
        _call([b"x" * 6, b"x" * 5], [])
