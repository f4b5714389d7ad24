"""The lift's simulated users: click model, query skew, session split and their events."""

from __future__ import annotations

import time

import numpy as np
import pytest

from interaction_pipeline.lift import (
    ClickModel,
    SeedTraffic,
    TrafficPlan,
    simulate_seed,
    split_queries,
    synthetic_dataset,
    zipf_weights,
)
from interaction_pipeline.lift._events import retriever_tag, search_events
from interaction_pipeline.training import Dataset
from schemas.events import InteractionEvent, SearchEvent

pytestmark = pytest.mark.unit

END_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return synthetic_dataset(products=6)


def _rankings(dataset: Dataset) -> dict[str, list[str]]:
    """A fixed ranking per query: every document, judged ones spread over the page."""
    docs = sorted(dataset.corpus)
    return {q: docs[i % 7 :] + docs[: i % 7] for i, q in enumerate(dataset.queries)}


def _traffic(dataset: Dataset, seed: int = 1, **plan: float) -> tuple[list[str], SeedTraffic]:
    queries = list(dataset.queries)
    return queries, simulate_seed(
        seed,
        queries,
        _rankings(dataset),
        dataset.qrels,
        plan=TrafficPlan(**{"searches": 3_000, **plan}),  # type: ignore[arg-type]
        model=ClickModel(),
        end_ms=END_MS,
    )


def test_examination_falls_with_position_and_clicks_rise_with_grade() -> None:
    model = ClickModel(eta=1.0, click_noise=0.05, click_max=0.9)
    assert model.examination(4).tolist() == pytest.approx([1.0, 1 / 2, 1 / 3, 1 / 4])
    assert model.click_probability(np.array([0.0, 1.0, 2.0]), 2).tolist() == pytest.approx(
        [0.05, 0.475, 0.9]
    )
    with pytest.raises(ValueError, match="click_noise"):
        ClickModel(click_noise=0.95, click_max=0.9)


def test_zipf_weights_are_a_skewed_distribution() -> None:
    weights = zipf_weights(50, 1.0, np.random.default_rng(0))
    assert weights.sum() == pytest.approx(1.0)
    assert weights.max() / weights.min() == pytest.approx(50.0)


def test_query_split_is_disjoint_seeded_and_covers_every_query() -> None:
    ids = [f"q{i}" for i in range(20)]
    split = split_queries(ids, 0.5, seed=3)
    assert set(split.traffic) | set(split.held_out) == set(ids)
    assert not set(split.traffic) & set(split.held_out)
    assert len(split.traffic) == 10
    assert split == split_queries(ids, 0.5, seed=3)
    assert split != split_queries(ids, 0.5, seed=4)
    with pytest.raises(ValueError, match="at least 2"):
        split_queries(["q1"], 0.5, seed=1)


def test_sessions_split_into_separate_time_windows(dataset: Dataset) -> None:
    _, traffic = _traffic(dataset, eval_share=0.25)
    train, held = traffic.training_searches(), traffic.evaluation_searches()
    assert len(train) + len(held) == 3_000
    assert 0.15 < len(held) / 3_000 < 0.35
    (t0, t1), (e0, e1) = traffic.train_window_ms, traffic.eval_window_ms
    assert t1 == e0 and e1 < END_MS
    assert all(t0 <= s.timestamp_ms < t1 for s in train)
    assert all(e0 <= s.timestamp_ms < e1 for s in held)
    # A session is wholly training or wholly evaluation.
    kinds: dict[int, set[bool]] = {}
    for s in traffic.searches:
        kinds.setdefault(s.session, set()).add(s.for_training)
    assert all(len(k) == 1 for k in kinds.values())


def test_queries_repeat_with_a_skew(dataset: Dataset) -> None:
    _, traffic = _traffic(dataset, zipf=1.0)
    counts = list(traffic.queries_in(traffic.searches).values())
    assert counts[0] > 5 * counts[-1]


def test_clicks_follow_grades_and_positions(dataset: Dataset) -> None:
    _, traffic = _traffic(dataset, rank_noise=0.0)
    clicks_by_grade: dict[int, list[int]] = {}
    clicks_at = np.zeros(10)
    for search in traffic.searches:
        clicked = {r.position for r in search.reactions if r.kind == "click"}
        for pos, doc in enumerate(search.shown):
            grade = dataset.qrels[search.query_id].get(doc, 0)
            clicks_by_grade.setdefault(grade, []).append(pos in clicked)
            clicks_at[pos] += pos in clicked
        for r in search.reactions:
            assert search.shown[r.position] == r.doc_id
            if r.kind == "skip":
                assert r.position < max(clicked)
            if r.purchased:
                assert r.satisfied and r.kind == "click"
            if r.kind == "click":
                assert (r.dwell_ms >= 4_000) == r.satisfied
    rate = {g: float(np.mean(v)) for g, v in clicks_by_grade.items()}
    assert rate[0] < rate[1] < rate[2]
    assert clicks_at[0] > clicks_at[9]


def test_noise_moves_documents_between_positions(dataset: Dataset) -> None:
    _, still = _traffic(dataset, rank_noise=0.0)
    _, noisy = _traffic(dataset, rank_noise=1.0)

    def pages(t: SeedTraffic) -> set[tuple[str, tuple[str, ...]]]:
        return {(s.query_id, s.shown) for s in t.searches}

    assert len(pages(still)) == len(dataset.queries)
    assert len(pages(noisy)) > 3 * len(dataset.queries)


def test_same_seed_same_traffic(dataset: Dataset) -> None:
    assert _traffic(dataset, seed=5)[1].searches == _traffic(dataset, seed=5)[1].searches
    assert _traffic(dataset, seed=5)[1].searches != _traffic(dataset, seed=6)[1].searches


def test_events_link_interactions_to_their_search(dataset: Dataset) -> None:
    _, traffic = _traffic(dataset, searches=300)
    events = list(
        search_events(
            "run1", 1, traffic.searches, dataset.queries, total_hits=48, long_view_ms=4_000
        )
    )
    searches = [e for e in events if isinstance(e, SearchEvent)]
    interactions = [e for e in events if isinstance(e, InteractionEvent)]
    assert len(searches) == 300
    shown = {s.query_id: s for s in searches}
    for event in interactions:
        search = shown[event.query_id]
        assert search.results[event.position] == event.feature_id
        assert event.metadata["query"] == search.query
        assert event.timestamp >= search.timestamp
        assert event.retriever_id == retriever_tag(1)
        if "click" in event.interaction_type:
            assert ("long_view" in event.interaction_type) == (
                event.metadata["duration_ms"] >= 4_000
            )
    kinds = {t for e in interactions for t in e.interaction_type}
    assert {"click", "long_view", "skip", "purchase", "return_to_results"} <= kinds
    assert len({e.event_id for e in events}) == len(events)
