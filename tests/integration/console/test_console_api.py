"""The console's JSON over a known dataset: what each page draws from, through the real
service (Kafka topics' tails, ClickHouse, Redis, the collector's 422 log)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.console.support import BAD_EVENTS, PAGE_SIZE, SeededConsole

pytestmark = pytest.mark.integration


def _get(console: SeededConsole, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{console.url}/console/api/{path}", params=params, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_kind_of_rejected_event_is_listed_with_its_field_errors(
    console: SeededConsole,
) -> None:
    rows = _get(console, "rejected")["items"]
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    assert len(by_source["http"]) == len(BAD_EVENTS) + 1  # three bad events, one bad body
    errors = [e for row in by_source["http"] for e in row["errors"]]
    assert any(e.startswith("position: must be >= 0") for e in errors), errors
    assert any(e.startswith("feature_id:") for e in errors), errors
    assert any(e.startswith("interaction_type") for e in errors), errors
    assert any(e.startswith("body: not valid JSON") for e in errors), errors
    [dead] = by_source["dlq"]
    assert dead["errors"] == ["interaction_type: must be a string or a list of strings"]
    assert dead["feature_id"] == "doc_dlq"
    [sink] = by_source["sink"]
    assert sink["errors"] == ["position: must be an integer, got 'third'"]
    assert sink["feature_id"] == "doc_sink"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user": "u_dbg"}, 2),
        ({"source": "dlq"}, 1),
        ({"source": "sink"}, 1),
        ({"feature": "doc_bad_3"}, 1),
        ({"type": "click", "source": "http"}, 2),
    ],
    ids=str,
)
def test_rejected_events_filter(
    console: SeededConsole, params: dict[str, str], expected: int
) -> None:
    assert _get(console, "rejected", **params)["matched"] == expected


def test_accepted_events_are_what_kafka_acknowledged(console: SeededConsole) -> None:
    data = _get(console, "events", limit=1000)
    assert sorted(r["event_id"] for r in data["items"]) == sorted(console.accepted_ids)
    assert {r["source"] for r in data["items"]} == {"interactions", "searches"}
    assert data["rate"]["per_second"]["search"] > 0
    searches = _get(console, "events", source="searches", limit=1000)["items"]
    assert len(searches) == 20
    assert all(r["types"] == ["search"] for r in searches)


def test_relevance_has_one_ctr_point_per_position(console: SeededConsole) -> None:
    view = _get(console, "relevance", range="last_7_days")
    assert view["ctr_by_position"]["position"] == list(range(PAGE_SIZE))
    assert len(view["examination"]["estimated"]) == PAGE_SIZE
    assert view["examination"]["prior"][0] == pytest.approx(1.0)
    assert set(view["retrievers"]) == {"ret_alpha", "ret_beta"}
    changes = view["week_over_week"]["changes"]
    flags = [c["regressed"] for c in changes]
    assert flags == sorted(flags, reverse=True)  # regressions first


def test_relevance_refuses_a_bad_range_by_name(console: SeededConsole) -> None:
    answer = httpx.get(f"{console.url}/console/api/relevance", params={"range": "yesterday-ish"})
    assert answer.status_code == 422
    assert "yesterday-ish" in answer.text


def test_trending_and_boost_preview_read_redis(console: SeededConsole) -> None:
    trending = _get(console, "trending", n=5)
    assert len(trending["items"]) == 5
    top = [i["feature_id"] for i in trending["items"]]
    lines = "\n".join(["doc_unknown 0.9", *(f"{d} 0.5" for d in top)])
    boosted = _get(console, "boost", candidates=lines)["candidates"]
    assert len(boosted) == 6
    unknown = next(c for c in boosted if c["feature_id"] == "doc_unknown")
    assert unknown["multiplier"] == 1.0
    assert all(c["multiplier"] > 1.0 for c in boosted if c["feature_id"] in top)


def test_experiments_read_the_result_files(console: SeededConsole) -> None:
    data = _get(console, "experiments")
    assert [r["split"] for r in data["lift"]["report"]["splits"]] == [
        "held_out_sessions",
        "held_out_queries",
    ]
    assert data["offline_ab"]["result"] is None  # "no results yet"
