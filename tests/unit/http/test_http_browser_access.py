"""What the browser SDK needs from the collector: CORS for allowed origins, text/plain beacon
bodies from those origins only, and a write-only key that works in the query string.

Kafka is replaced by a bridge that validates like the real one and acknowledges everything:
the subject here is the HTTP edge, not delivery (tests/integration/browser drives the real
stack from Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from interaction_pipeline.http import INTERACTIONS_PATH, SEARCHES_PATH, create_app
from producers import BatchOutcome
from schemas.events import Event
from schemas.settings import Settings

pytestmark = pytest.mark.unit

SITE = "https://shop.example"
BROWSER_KEY = "k-browser"
FULL_KEY = "k-full"
EVENT = {"feature_id": "doc_1", "interaction_type": ["click"], "position": 2}
SEARCH = {"query": "earbuds", "results": ["doc_1"], "total_hits": 1}


class AcceptingBridge:
    """Validates each event with the model and acknowledges the valid ones."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def start(self) -> None:
        pass

    def close(self, timeout: float = 30.0) -> None:
        pass

    async def send(self, raw: Sequence[Any], kind: type[Event]) -> BatchOutcome:
        outcome = BatchOutcome(size=len(raw), event_ids=[None] * len(raw))
        for i, item in enumerate(raw):
            try:
                event = kind.model_validate(item)
            except ValidationError as exc:
                outcome.invalid[i] = [str(e["msg"]) for e in exc.errors()]
                continue
            outcome.event_ids[i] = str(event.event_id)
            self.sent.append(event)
        return outcome


@pytest.fixture
def bridge() -> AcceptingBridge:
    return AcceptingBridge()


@pytest.fixture
def client(bridge: AcceptingBridge) -> Iterator[TestClient]:
    settings = Settings(
        http_api_keys=[SecretStr(FULL_KEY)],
        http_api_key_scopes={SecretStr(BROWSER_KEY): ["ingest"]},
        http_cors_allowed_origins=[SITE],
    )
    reads = APIRouter()  # stand-ins for the read and admin routes, behind the same guard

    @reads.get("/v1/retrievers/interactions")
    def read() -> dict[str, Any]:
        return {"items": []}

    @reads.delete("/v1/retrievers/interactions/{event_id}")
    def delete(event_id: str) -> dict[str, Any]:
        return {"deleted": event_id}

    app = create_app(settings, bridge=bridge, read_routers=[reads])  # type: ignore[arg-type]
    with TestClient(app) as test_client:
        yield test_client


def _beacon(client: TestClient, path: str, body: Any, origin: str | None, key: str) -> Any:
    headers = {"content-type": "text/plain;charset=UTF-8"}
    if origin is not None:
        headers["origin"] = origin
    return client.post(path, params={"api_key": key}, content=orjson.dumps(body), headers=headers)


def test_preflight_from_an_allowed_origin_names_the_headers_the_sdk_sends(
    client: TestClient,
) -> None:
    response = client.options(
        "/v1/retrievers/users/u1/identify",
        headers={
            "origin": SITE,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()
    assert "credentials" not in " ".join(response.headers).lower()


def test_answers_carry_cors_headers_for_allowed_origins_only(client: TestClient) -> None:
    allowed = _beacon(client, INTERACTIONS_PATH, EVENT, SITE, BROWSER_KEY)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == SITE
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    preflight = client.options(
        INTERACTIONS_PATH,
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_text_plain_bodies_are_read_as_json_in_every_shape(
    client: TestClient, bridge: AcceptingBridge
) -> None:
    one = _beacon(client, INTERACTIONS_PATH, EVENT, SITE, BROWSER_KEY)
    many = _beacon(client, INTERACTIONS_PATH, [EVENT, EVENT], SITE, BROWSER_KEY)
    searches = _beacon(client, SEARCHES_PATH, {"searches": [SEARCH]}, SITE, BROWSER_KEY)
    assert [r.json()["accepted"] for r in (one, many, searches)] == [1, 2, 1]
    assert len(bridge.sent) == 4
    invalid = _beacon(client, INTERACTIONS_PATH, {**EVENT, "position": -1}, SITE, BROWSER_KEY)
    assert invalid.status_code == 422
    assert invalid.json()["failures"][0]["errors"]


def test_text_plain_from_another_origin_is_refused(
    client: TestClient, bridge: AcceptingBridge
) -> None:
    response = _beacon(client, INTERACTIONS_PATH, EVENT, "https://evil.example", BROWSER_KEY)
    assert response.status_code == 403
    assert "HTTP_CORS_ALLOWED_ORIGINS" in response.json()["detail"]
    assert bridge.sent == []
    # not from a page at all (curl, a server): the key decides, as for JSON
    assert _beacon(client, INTERACTIONS_PATH, EVENT, None, BROWSER_KEY).status_code == 200


def test_other_content_types_still_get_415(client: TestClient) -> None:
    response = client.post(
        INTERACTIONS_PATH,
        content=orjson.dumps(EVENT),
        headers={"content-type": "text/csv", "x-api-key": BROWSER_KEY},
    )
    assert response.status_code == 415


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_browser_key_posts_events_and_nothing_else(client: TestClient, how: str) -> None:
    def auth(key: str) -> dict[str, Any]:
        if how == "header":
            return {"headers": {"x-api-key": key}}
        return {"params": {"api_key": key}}

    assert client.post(INTERACTIONS_PATH, json=EVENT, **auth(BROWSER_KEY)).status_code == 200
    assert client.post(SEARCHES_PATH, json=SEARCH, **auth(BROWSER_KEY)).status_code == 200
    assert client.get(INTERACTIONS_PATH, **auth(BROWSER_KEY)).status_code == 403
    assert client.delete(f"{INTERACTIONS_PATH}/e1", **auth(BROWSER_KEY)).status_code == 403
    assert client.get(INTERACTIONS_PATH, **auth("not-a-key")).status_code == 401


def test_a_full_key_in_the_query_string_may_only_ingest(client: TestClient) -> None:
    in_query = {"api_key": FULL_KEY}
    assert client.post(INTERACTIONS_PATH, json=EVENT, params=in_query).status_code == 200
    read = client.get(INTERACTIONS_PATH, params=in_query)
    assert read.status_code == 403
    assert "query string" in read.json()["detail"]
    assert client.delete(f"{INTERACTIONS_PATH}/e1", params=in_query).status_code == 403
    assert client.get(INTERACTIONS_PATH, headers={"x-api-key": FULL_KEY}).status_code == 200


def test_without_origins_there_is_no_cors_and_no_cross_origin_beacon(
    bridge: AcceptingBridge,
) -> None:
    app = create_app(Settings(http_api_keys=[SecretStr(FULL_KEY)]), bridge=bridge)  # type: ignore[arg-type]
    with TestClient(app) as client:
        response = _beacon(client, INTERACTIONS_PATH, EVENT, SITE, FULL_KEY)
        assert response.status_code == 403
        assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("origins", "ok"),
    [
        (["https://shop.example"], True),
        (["http://127.0.0.1:8000", "https://a.example:8443"], True),
        (["*"], True),
        (["https://shop.example/"], False),
        (["shop.example"], False),
        (["https://shop.example/path"], False),
    ],
)
def test_allowed_origins_must_be_origins(origins: list[str], ok: bool) -> None:
    if ok:
        assert Settings(http_cors_allowed_origins=origins).http.cors_allowed_origins == origins
    else:
        with pytest.raises(ValidationError, match="must be an origin"):
            Settings(http_cors_allowed_origins=origins)
