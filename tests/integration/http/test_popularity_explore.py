"""The boost route's opt-in exploration: the swap is applied to the boosted ranking, the record
comes back for the search event, one query_id gets one order, and bad options are 422s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from interaction_pipeline.http.service import build_app
from schemas import Settings
from schemas.events import SearchEvent
from schemas.exploration import Exploration, exploration_of

pytestmark = pytest.mark.integration

BOOST = "/v1/retrievers/popularity/boost"
SCORES = [0.3, 0.9, 0.1, 0.7, 0.5, 0.8, 0.2, 0.6]
"""Input order differs from the boosted one (no counts: highest score first)."""
CANDIDATES = [{"feature_id": f"doc_{i}", "score": s} for i, s in enumerate(SCORES)]
BY_SCORE = [f"doc_{i}" for i in sorted(range(len(SCORES)), key=lambda i: -SCORES[i])]
KEY = "key-explore-test"


@pytest.fixture
def client(unique_settings: Settings) -> Iterator[TestClient]:
    settings = unique_settings.replace(http_api_keys=[SecretStr(KEY)])
    with TestClient(build_app(settings), headers={"x-api-key": KEY}) as test_client:
        yield test_client


def _boost(client: TestClient, explore: Any) -> dict[str, Any]:
    response = client.post(BOOST, json={"candidates": CANDIDATES, "explore": explore})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_without_explore_nothing_changes(client: TestClient) -> None:
    body = _boost(client, None)
    assert [c["feature_id"] for c in body["candidates"]] == BY_SCORE
    assert body["exploration"] is None and body["query_id"] is None


def test_the_swap_follows_the_record_on_the_boosted_ranking(client: TestClient) -> None:
    swaps: list[int | None] = []
    for i in range(300):
        body = _boost(client, {"epsilon": 0.5, "depth": 4, "query_id": f"q{i}"})
        record = Exploration.model_validate(body["exploration"])
        shown = [c["feature_id"] for c in body["candidates"]]
        assert body["query_id"] == f"q{i}" and (record.epsilon, record.depth) == (0.5, 4)
        assert shown == record.apply(BY_SCORE)
        # What the client logs is a valid search event carrying the same record.
        logged = {"exploration": body["exploration"]}
        event = SearchEvent(
            query_id=body["query_id"], query="q", results=shown, total_hits=8, metadata=logged
        )
        assert exploration_of(event.metadata) == record
        swaps.append(record.swap)
    done = [s for s in swaps if s is not None]
    assert 100 < len(done) < 200 and set(done) == {0, 1, 2}
    again = _boost(client, {"epsilon": 0.5, "depth": 4, "query_id": "q7"})
    assert again["exploration"]["swap"] == swaps[7]  # a retried request: the same order


def test_a_query_id_is_made_when_missing_and_depth_is_capped_by_the_list(
    client: TestClient,
) -> None:
    body = _boost(client, {"epsilon": 1.0, "depth": 50})
    assert len(body["query_id"]) == 32
    record = Exploration.model_validate(body["exploration"])
    assert record.depth == len(CANDIDATES) and record.swap is not None
    one = client.post(BOOST, json={"candidates": CANDIDATES[:1], "explore": {"epsilon": 1.0}})
    assert one.json()["exploration"] is None and one.json()["query_id"]


@pytest.mark.parametrize(
    ("explore", "message"),
    [
        ({"epsilon": 1.5}, "body.explore.epsilon: must be <= 1"),
        ({"epsilon": -0.1}, "body.explore.epsilon: must be >= 0"),
        ({"epsilon": 0.1, "depth": 1}, "body.explore.depth: must be >= 2"),
        ({"depth": 5}, "body.explore.epsilon: is required"),
        ({"epsilon": 0.1, "seed": 3}, "body.explore.seed: is not a known field"),
        ({"epsilon": 0.1, "query_id": ""}, "body.explore.query_id: must not be empty"),
    ],
)
def test_bad_explore_options_are_422_naming_the_field(
    client: TestClient, explore: dict[str, Any], message: str
) -> None:
    response = client.post(BOOST, json={"candidates": CANDIDATES, "explore": explore})
    assert response.status_code == 422
    assert any(line.startswith(message) for line in response.json()["errors"]), response.text
