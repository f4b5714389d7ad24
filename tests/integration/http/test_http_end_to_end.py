"""End to end over HTTP: events POSTed to the collector show up in Redis counts (popularity
worker running) and in ClickHouse (sink running), read back through the same HTTP service.

The worker and the sink run as real `interactions` subprocesses; the HTTP service runs in
this process with chDB opened per request, while the sink process inserts into the same
folder: this is the chDB hand-off between processes working for real.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from interaction_pipeline.http import INTERACTIONS_PATH, SEARCHES_PATH, serve_in_thread
from interaction_pipeline.http.service import build_app
from interaction_pipeline.orchestration import Children, wait_until
from schemas import Settings

pytestmark = pytest.mark.integration

TYPES = (["click"], ["click", "long_view"], ["purchase"], ["add_to_cart"])
PIPELINE_TIMEOUT_S = 120.0


def _events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(uuid.uuid4()),
            "feature_id": f"doc_{i % 7}",
            "interaction_type": TYPES[i % len(TYPES)],
            "position": i % 10,
            "metadata": {"query": "wireless earbuds", "duration_ms": 1000 + i},
            "user_id": f"user_{i % 3}",
            "session_id": f"sess_{i % 5}",
        }
        for i in range(count)
    ]


@contextmanager
def running_pipeline(
    base: Settings, tmp_path: Path, group_prefix: str
) -> Iterator[tuple[Children, str]]:
    """Worker, sink and the HTTP service on `base`, with a fresh sink group and short batches."""
    settings = base.replace(
        **{
            "sink_group_id": f"{group_prefix}-{uuid.uuid4().hex[:8]}",
            "sink_batch_max_s": 0.3,
            "worker_batch_within_s": 0.05,
        }
    )
    with Children(settings, tmp_path / "logs") as children:
        children.start("worker", ["worker"])
        children.start("sink", ["sink", "--quiet"])
        with serve_in_thread(build_app(settings)) as url:
            yield children, url
            children.check_alive()  # neither crashed during the test


@pytest.fixture
def pipeline(unique_settings: Settings, tmp_path: Path) -> Iterator[tuple[Children, str]]:
    with running_pipeline(unique_settings, tmp_path, "sink-http-e2e") as running:
        yield running


def test_posted_events_reach_redis_counts_and_clickhouse(
    pipeline: tuple[Children, str],
) -> None:
    children, url = pipeline
    events = _events(300)
    expected = Counter((e["feature_id"], t) for e in events for t in e["interaction_type"])
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post(INTERACTIONS_PATH, json=events[:200]).status_code == 200
        assert http.post(INTERACTIONS_PATH, json={"interactions": events[200:299]}).is_success
        assert http.post(INTERACTIONS_PATH, json=events[299]).status_code == 200
        search = {"query": "wireless earbuds", "results": ["doc_0", "doc_1"], "total_hits": 2}
        assert http.post(SEARCHES_PATH, json=search).status_code == 200
        features = sorted({e["feature_id"] for e in events})
        types = ["click", "long_view", "purchase", "add_to_cart"]

        def counts() -> dict[str, Any]:
            body = {"feature_ids": features, "interaction_types": types, "time_window_days": 7}
            response = http.post("/v1/retrievers/popularity/counts", json=body)
            assert response.status_code == 200, response.text
            return dict(response.json()["features"])

        def redis_caught_up() -> bool:
            found = counts()
            return all(found[f]["counts"][t] == expected[(f, t)] for f in features for t in types)

        wait_until(redis_caught_up, "counts in Redis", PIPELINE_TIMEOUT_S, children=children)

        def stored(**params: Any) -> list[dict[str, Any]]:
            response = http.get(INTERACTIONS_PATH, params=params)
            assert response.status_code == 200, response.text
            return list(response.json()["items"])

        def clickhouse_caught_up() -> bool:
            return len(stored(page=1, page_size=1000)) == len(events)

        wait_until(
            clickhouse_caught_up, "rows in ClickHouse", PIPELINE_TIMEOUT_S, children=children
        )
        by_id = {e["event_id"]: e for e in events}
        for row in stored(page_size=1000):
            sent = by_id[row["event_id"]]
            assert {k: row[k] for k in sent} == sent

        # The seed's read queries, over HTTP, against what was sent.
        doc_3 = stored(feature_id="doc_3")
        assert {r["event_id"] for r in doc_3} == {
            e["event_id"] for e in events if e["feature_id"] == "doc_3"
        }
        assert len(stored(user_id="user_1", limit=50)) == 50
        purchases = stored(interaction_type="purchase", days=1, page_size=1000)
        assert len(purchases) == sum(1 for e in events if e["interaction_type"] == ["purchase"])
        first = http.get(INTERACTIONS_PATH, params={"page_size": 120}).json()
        second = http.get(
            INTERACTIONS_PATH, params={"page_size": 120, "cursor": first["next_cursor"]}
        ).json()
        paged = [r["event_id"] for r in first["items"] + second["items"]]
        assert len(set(paged)) == 240

        trending = http.get(
            "/v1/retrievers/popularity/trending", params={"interaction_type": "click"}
        ).json()
        clicks = Counter(e["feature_id"] for e in events if "click" in e["interaction_type"])
        assert trending["items"][0]["score"] == max(clicks.values())
        boost = http.post(
            "/v1/retrievers/popularity/boost",
            json={
                "candidates": [
                    {"feature_id": "never_seen", "score": 0.9},
                    {"feature_id": "doc_0", "score": 0.8},
                ],
                "boost_by_interaction_count": {
                    "interaction_types": ["click", "purchase"],
                    "time_window_days": 7,
                    "boost_multiplier": 1.2,
                },
            },
        ).json()["candidates"]
        assert [c["feature_id"] for c in boost] == ["doc_0", "never_seen"]
        assert boost[1]["multiplier"] == 1.0 and 1.0 < boost[0]["multiplier"] <= 1.2
        history = http.get("/v1/retrievers/users/user_2/history").json()["items"]
        assert {h["feature_id"] for h in history} == {
            e["feature_id"] for e in events if e["user_id"] == "user_2"
        }

        # GDPR: one interaction, then a whole user (rows and Redis history).
        victim = events[5]["event_id"]
        deleted = http.delete(f"{INTERACTIONS_PATH}/{victim}")
        assert deleted.status_code == 200 and deleted.json()["rows_total"] == 1
        assert http.get(f"{INTERACTIONS_PATH}/{victim}").status_code == 404
        assert http.delete(f"{INTERACTIONS_PATH}/{victim}").status_code == 404
        forgotten = http.delete("/v1/retrievers/users/user_0").json()
        assert forgotten["rows_deleted"]["interactions"] == sum(
            1 for e in events if e["user_id"] == "user_0" and e["event_id"] != victim
        )
        assert forgotten["redis_keys_deleted"]
        assert stored(user_id="user_0") == []
        assert http.get("/v1/retrievers/users/user_0/history").json()["items"] == []
