"""Candidates: the boost replay matches the seed's rerank, counts are those of search time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from interaction_pipeline.counterfactual import (
    BoostCandidate,
    InteractionTimeline,
    LoggedSearches,
    RankingCandidate,
    StaticCounts,
    base_scores,
)
from stream_processors import BoostConfig
from stream_processors.boost import rerank

pytestmark = pytest.mark.unit

HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR  # an hour boundary


def _logs(shown: np.ndarray, timestamps: list[int] | None = None) -> LoggedSearches:
    n = shown.shape[0]
    zeros = np.zeros(shown.shape, dtype=np.uint8)
    return LoggedSearches(
        query=np.zeros(n, dtype=np.int32),
        timestamp_ms=np.array(timestamps or [T0] * n, dtype=np.int64),
        shown=shown.astype(np.int32),
        clicks=zeros,
        conversions=zeros,
        reward=zeros.astype(np.float32),
        docs=pa.array([f"d{i}" for i in range(int(shown.max()) + 1)]),
        queries=pa.array(["q"]),
    )


@pytest.mark.parametrize("seed", range(5))
def test_boost_replay_orders_like_the_seed_rerank(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shown = np.array([rng.permutation(12)[:8] for _ in range(30)])
    counts = {f"d{i}": float(rng.integers(0, 40)) for i in range(12)}
    config = BoostConfig(boost_multiplier=1.0 + float(rng.random()) * 2, half_saturation=5)
    logs = _logs(shown)
    ranked = BoostCandidate(config, StaticCounts(counts)).rank(logs)
    scores = base_scores(logs)
    ids = logs.docs.to_pylist()
    for row in range(shown.shape[0]):
        candidates = [(ids[d], float(s)) for d, s in zip(shown[row], scores[row], strict=True)]
        seed_order = rerank(candidates, {d: {"click": int(c)} for d, c in counts.items()},
                            {"click": 1.0, "purchase": 5.0}, config)  # fmt: skip
        assert [ids[d] for d in ranked[row]] == [c.feature_id for c in seed_order]


def test_counts_are_those_of_the_window_at_search_time() -> None:
    # d0 was clicked 7 days + 2 h before the search (outside a 7-day window), 7 days + 30 min
    # before (inside: its hour bucket starts the window), 1 ms before (inside), at the very
    # time of the search and after it (both outside: not yet known).
    search = T0 + 30 * 60_000
    events = [search - 7 * 24 * HOUR - 2 * HOUR, search - 7 * 24 * HOUR - 30 * 60_000,
              search - 1, search, search + 5_000]  # fmt: skip
    timeline = InteractionTimeline(
        doc=np.array([0, 0, 0, 0, 0, 1]),
        timestamp_ms=np.array([*events, search - 10]),
        weight=np.array([1.0, 2.0, 4.0, 8.0, 16.0, 3.0]),
    )
    logs = _logs(np.array([[0, 1], [1, 0]]), [search, search - 20])
    counts = timeline.counts_at(logs, window_days=7)
    # The second search, 20 ms earlier, has not seen d1's click (10 ms before the first) nor
    # d0's click 1 ms before the first; it has seen d0's click in the window's first hour.
    assert counts.tolist() == [[6.0, 3.0], [0.0, 2.0]]


def test_padding_stays_last_and_ties_keep_the_logged_order() -> None:
    shown = np.array([[3, 1, 2, -1]])
    logs = _logs(shown)
    ranked = BoostCandidate(BoostConfig(), StaticCounts({})).rank(logs)
    assert ranked.tolist() == [[3, 1, 2, -1]]


def test_rankings_by_query_id_and_by_query() -> None:
    logs = LoggedSearches(
        query=np.array([0, 1, 1], dtype=np.int32),
        timestamp_ms=np.zeros(3, dtype=np.int64),
        shown=np.array([[0, 1], [1, 2], [2, 1]], dtype=np.int32),
        clicks=np.zeros((3, 2), dtype=np.uint8),
        conversions=np.zeros((3, 2), dtype=np.uint8),
        reward=np.zeros((3, 2), dtype=np.float32),
        docs=pa.array(["a", "b", "c"]),
        queries=pa.array(["red shoes", "blue hat"]),
        query_ids=pa.array(["s0", "s1", "s2"]),
    )
    candidate = RankingCandidate({"s0": ["b", "new", "a"]}, {"blue hat": ["c", "b"]})
    ranked = candidate.rank(logs)
    assert ranked[0].tolist() == [1, 3]  # "new" gets an index past the vocabulary
    assert ranked[1].tolist() == [2, 1] and ranked[2].tolist() == [2, 1]
    assert candidate.covered(logs) == 3
