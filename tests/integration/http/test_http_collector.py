"""The collector's contract over real HTTP on loopback, against the real broker.

Every endpoint and error path of the write side: what is accepted is in Kafka, field for field;
what is refused is refused with the status code and the field named.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from interaction_pipeline.http import (
    INTERACTIONS_PATH,
    SEARCHES_PATH,
    create_app,
    serve_in_thread,
)
from producers import InteractionProducer, ProducerBridge
from schemas import Settings
from schemas.wire import decode_interaction, decode_search
from tests.kafka_reading import read_topic

pytestmark = pytest.mark.integration

QUIET = {"log_level": 0}
SEED_EVENT: dict[str, Any] = {
    "feature_id": "doc_xyz789",
    "interaction_type": ["click", "long_view"],
    "position": 3,
    "metadata": {"duration_ms": 4500, "query": "wireless earbuds"},
    "user_id": "user_123",
    "session_id": "sess_456",
}


def _event(i: int) -> dict[str, Any]:
    return {**SEED_EVENT, "feature_id": f"doc_{i % 13}", "position": i % 10}


@pytest.fixture
def client(unique_settings: Settings) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_app(unique_settings)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        yield http


def test_seed_event_is_acknowledged_and_in_kafka_field_for_field(
    client: httpx.Client, unique_settings: Settings
) -> None:
    response = client.post(INTERACTIONS_PATH, json=SEED_EVENT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] == body["accepted"] == 1
    assert body["failures"] == []
    [message] = read_topic(unique_settings, unique_settings.topics.interactions, expected=1)
    event = decode_interaction(message.value())
    assert str(event.event_id) == body["event_ids"][0]
    assert event.model_dump(include=set(SEED_EVENT)) == SEED_EVENT
    assert message.key() == b"doc_xyz789"


@pytest.mark.parametrize("shape", ["array", "wrapped"])
def test_batches_of_both_shapes_keep_ids_and_order(
    client: httpx.Client, unique_settings: Settings, shape: str
) -> None:
    events = [{**_event(i), "event_id": str(uuid.uuid4())} for i in range(250)]
    payload: Any = events if shape == "array" else {"interactions": events}
    response = client.post(INTERACTIONS_PATH, json=payload)
    assert response.status_code == 200, response.text
    assert response.json()["event_ids"] == [e["event_id"] for e in events]
    messages = read_topic(unique_settings, unique_settings.topics.interactions, expected=250)
    assert sorted(str(decode_interaction(m.value()).event_id) for m in messages) == sorted(
        e["event_id"] for e in events
    )


def test_partial_batch_publishes_the_valid_events_and_reports_the_rest_by_index(
    client: httpx.Client, unique_settings: Settings
) -> None:
    batch = [_event(0), {**_event(1), "position": -1}, _event(2), 42, {"feature_id": "x"}]
    response = client.post(INTERACTIONS_PATH, json=batch)
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 2
    assert [f["index"] for f in body["failures"]] == [1, 3, 4]
    assert body["failures"][0]["errors"] == ["position: must be >= 0, got -1"]
    assert body["failures"][2]["errors"] == ["interaction_type: is required"]
    assert all(f["retryable"] is False for f in body["failures"])
    assert body["event_ids"][1] is None and body["event_ids"][0] is not None
    messages = read_topic(unique_settings, unique_settings.topics.interactions, expected=2)
    assert {str(decode_interaction(m.value()).event_id) for m in messages} == {
        body["event_ids"][0],
        body["event_ids"][2],
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**SEED_EVENT, "position": -1}, "position: must be >= 0, got -1"),
        ({**SEED_EVENT, "interaction_type": ["Click!"]}, "interaction_type[0]: must be a lower"),
        ({**SEED_EVENT, "colour": "red"}, "colour: is not a known field"),
        ({**SEED_EVENT, "feature_id": ""}, "feature_id: must not be empty"),
        ({**SEED_EVENT, "timestamp": "2999-01-01T00:00:00Z"}, "timestamp: must not be more"),
    ],
)
def test_an_invalid_event_gets_422_naming_the_field(
    client: httpx.Client, payload: dict[str, Any], message: str
) -> None:
    response = client.post(INTERACTIONS_PATH, json=payload)
    assert response.status_code == 422
    body = response.json()
    assert body["accepted"] == 0
    assert body["detail"].startswith(message), body["detail"]
    assert body["failures"][0]["index"] == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "body: not valid JSON"),
        (b"42", "body: must be an event object, an array of events"),
        (b"[]", "body: must contain at least one event"),
        (b'{"interactions": []}', "body: must contain at least one event"),
        (b'{"interactions": [{}], "x": 1}', "body: x: is not a known field"),
    ],
)
def test_an_unusable_body_gets_422(client: httpx.Client, content: bytes, message: str) -> None:
    response = client.post(
        INTERACTIONS_PATH, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith(message)


def test_more_than_1000_events_gets_413(client: httpx.Client) -> None:
    response = client.post(INTERACTIONS_PATH, json=[SEED_EVENT] * 1001)
    assert response.status_code == 413
    assert response.json()["detail"] == "body: must contain at most 1000 events, got 1001"
    assert client.post(INTERACTIONS_PATH, json=[SEED_EVENT] * 1000).status_code == 200


def test_a_body_over_the_byte_limit_gets_413_declared_or_streamed(
    unique_settings: Settings,
) -> None:
    small = unique_settings.replace(**{"http_max_body_bytes": 2048})
    with (
        serve_in_thread(create_app(small)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        declared = http.post(INTERACTIONS_PATH, content=b" " * 4096)
        assert declared.status_code == 413
        assert declared.json()["detail"] == "body: must be at most 2048 bytes, got 4096"

        def chunks() -> Iterator[bytes]:
            yield from (b" " * 1024 for _ in range(4))

        streamed = http.post(INTERACTIONS_PATH, content=chunks())
        assert streamed.status_code == 413
        assert http.post(INTERACTIONS_PATH, json=SEED_EVENT).status_code == 200


def test_a_non_json_content_type_gets_415(client: httpx.Client) -> None:
    response = client.post(
        INTERACTIONS_PATH, content=orjson.dumps(SEED_EVENT), headers={"content-type": "text/csv"}
    )
    assert response.status_code == 415
    assert response.json()["detail"] == "content-type: must be application/json, got 'text/csv'"


def test_search_events_are_published_to_the_search_topic(
    client: httpx.Client, unique_settings: Settings
) -> None:
    search = {"query": "wireless earbuds", "results": ["doc_1", "doc_2"], "total_hits": 9}
    response = client.post(SEARCHES_PATH, json={"searches": [search, search]})
    assert response.status_code == 200, response.text
    messages = read_topic(unique_settings, unique_settings.topics.searches, expected=2)
    assert sorted(str(decode_search(m.value()).event_id) for m in messages) == sorted(
        response.json()["event_ids"]
    )
    bad = client.post(SEARCHES_PATH, json={**search, "total_hits": 1})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "total_hits: must be >= number of results (2), got 1"


def test_kafka_not_acknowledging_gets_503_with_retryable_failures(
    unique_settings: Settings,
) -> None:
    dead = unique_settings.replace(
        **{"kafka_bootstrap_servers": "127.0.0.1:1", "http_ack_timeout_s": 1.0}
    )
    # Its undeliverable messages keep this producer alive (and retrying) until the process
    # ends; quiet its log so it does not drown the rest of the session's output.
    bridge = ProducerBridge(dead, producer_factory=lambda s: InteractionProducer(s, config=QUIET))
    with (
        serve_in_thread(create_app(dead, bridge=bridge)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        response = http.post(INTERACTIONS_PATH, json=[SEED_EVENT, SEED_EVENT])
        ready = http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["accepted"] == 0
    assert [f["retryable"] for f in body["failures"]] == [True, True]
    assert [f["event_id"] for f in body["failures"]] == body["event_ids"]
    assert ready.status_code == 503
    assert ready.json()["checks"]["kafka"]["ok"] is False


def test_api_keys_are_required_when_configured(unique_settings: Settings) -> None:
    keyed = unique_settings.replace(**{"http_api_keys": [SecretStr("k-one"), SecretStr("k-two")]})
    with (
        serve_in_thread(create_app(keyed)) as url,
        httpx.Client(base_url=url, timeout=30) as http,
    ):
        missing = http.post(INTERACTIONS_PATH, json=SEED_EVENT)
        wrong = http.post(INTERACTIONS_PATH, json=SEED_EVENT, headers={"x-api-key": "nope"})
        by_header = http.post(INTERACTIONS_PATH, json=SEED_EVENT, headers={"x-api-key": "k-two"})
        by_bearer = http.post(
            INTERACTIONS_PATH, json=SEED_EVENT, headers={"authorization": "Bearer k-one"}
        )
        health = http.get("/healthz")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "API key is not valid"
    assert by_header.status_code == 200
    assert by_bearer.status_code == 200
    assert health.status_code == 200


def test_without_keys_only_loopback_clients_are_served(unique_settings: Settings) -> None:
    app = create_app(unique_settings)

    async def call(client_host: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            return await http.post(INTERACTIONS_PATH, json=SEED_EVENT)

    refused = asyncio.run(call("203.0.113.7"))
    assert refused.status_code == 403
    assert "HTTP_API_KEYS" in refused.json()["detail"]


def test_health_readiness_metrics_and_docs(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["kafka"]["ok"] is True
    client.post(INTERACTIONS_PATH, json=[SEED_EVENT, {**SEED_EVENT, "position": -5}])
    metrics = client.get("/metrics").text
    assert (
        'interactions_http_requests_total{method="POST",route="/v1/retrievers/interactions",'
        'status="207"} 1.0' in metrics
    )
    assert 'interactions_http_events_total{kind="interaction",outcome="invalid"} 1.0' in metrics
    spec = client.get("/openapi.json").json()
    post = spec["paths"][INTERACTIONS_PATH]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    assert examples["one"]["value"] == SEED_EVENT
    assert {"200", "207", "413", "415", "422", "503"} <= set(post["responses"])
    assert "InteractionEvent" in spec["components"]["schemas"]
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found", "errors": ["Not Found"]}
