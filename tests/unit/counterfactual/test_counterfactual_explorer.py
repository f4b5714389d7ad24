"""The SDK's Explorer: the order shown follows the record sent, decided by the search id."""

from __future__ import annotations

from typing import Any

import pytest

from producers import Explorer
from schemas.errors import InvalidArgumentError
from schemas.events import SearchEvent
from schemas.exploration import Exploration, exploration_of

pytestmark = pytest.mark.unit

RANKED = [f"doc_{i}" for i in range(12)]


def _swapped(results: list[str], swap: int | None) -> list[str]:
    out = list(results)
    if swap is not None:
        out[swap], out[swap + 1] = out[swap + 1], out[swap]
    return out


def test_the_event_sent_shows_what_its_record_says() -> None:
    explorer = Explorer(epsilon=0.3, depth=5)
    swaps: list[int | None] = []
    for i in range(4_000):
        ranked = {"query_id": f"q{i}", "query": "q", "results": RANKED, "total_hits": 40}
        event = SearchEvent.model_validate(explorer.search_event(ranked))
        record = exploration_of(event.metadata)
        assert record is not None and (record.epsilon, record.depth) == (0.3, 5)
        assert event.results == _swapped(RANKED, record.swap)
        assert record.apply(RANKED) == event.results
        swaps.append(record.swap)
    done = [s for s in swaps if s is not None]
    assert len(done) / len(swaps) == pytest.approx(0.3, abs=0.03)
    assert sorted(set(done)) == [0, 1, 2, 3]  # pairs inside the depth only


def test_one_search_id_gets_one_decision_for_ids_and_rendered_items() -> None:
    explorer = Explorer(epsilon=0.5, depth=10)
    items = [{"id": d, "title": d.upper()} for d in RANKED]
    differ = 0
    for i in range(200):
        query_id = f"search-{i}"
        shown_items, record = explorer.apply(items, query_id)
        sent = explorer.search_event({"query_id": query_id, "query": "q",
                                      "results": RANKED, "total_hits": 12})  # fmt: skip
        assert [item["id"] for item in shown_items] == sent["results"]
        assert sent["metadata"]["exploration"] == (record.model_dump() if record else None)
        again, _ = explorer.apply(items, query_id)
        assert again == shown_items
        differ += shown_items != items
    assert 50 < differ < 150  # the decision varies across searches


def test_search_event_keeps_fields_and_makes_a_query_id() -> None:
    explorer = Explorer(epsilon=1.0, depth=3)
    given: dict[str, Any] = {
        "query": "earbuds", "results": ["a", "b", "c", "d"], "total_hits": 9,
        "user_id": "u1", "metadata": {"page": 2},
    }  # fmt: skip
    sent = explorer.search_event(given)
    assert sent["query_id"] and sent["user_id"] == "u1" and sent["total_hits"] == 9
    assert sent["metadata"]["page"] == 2
    record = Exploration.model_validate(sent["metadata"]["exploration"])
    assert record.swap in (0, 1) and sent["results"] == _swapped(["a", "b", "c", "d"], record.swap)
    assert given["results"] == ["a", "b", "c", "d"] and "exploration" not in given["metadata"]
    model = SearchEvent(query_id="fixed", query="q", results=["a", "b"], total_hits=2)
    assert explorer.search_event(model)["results"] == ["b", "a"]  # epsilon 1, one pair
    single = explorer.search_event({"query": "q", "results": ["a"], "total_hits": 1})
    assert single["results"] == ["a"] and "exploration" not in single["metadata"]


def test_bad_settings_and_double_randomisation_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"epsilon: must be between 0 and 1, got 1\.5"):
        Explorer(epsilon=1.5)
    with pytest.raises(InvalidArgumentError, match="depth: must be between 2 and 1000, got 1"):
        Explorer(epsilon=0.1, depth=1)
    explorer = Explorer(epsilon=0.1)
    once = explorer.search_event({"query": "q", "results": RANKED, "total_hits": 12})
    with pytest.raises(InvalidArgumentError, match="exploration: already present"):
        explorer.search_event(once)


def test_a_record_applied_to_a_shorter_list_is_refused() -> None:
    record = Exploration(epsilon=0.1, depth=5, swap=3)
    assert record.apply(list("abcde")) == list("abced")
    with pytest.raises(ValueError, match="swaps positions 3 and 4, got 4 results"):
        record.apply(list("abcd"))
    assert Exploration(epsilon=0.1, depth=5).apply(list("ab")) == ["a", "b"]
