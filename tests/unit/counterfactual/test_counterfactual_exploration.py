"""Logged exploration: the randomiser, its record in the event, and what it identifies."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from interaction_pipeline.analytics import ClickCounts, estimate_position_bias
from interaction_pipeline.counterfactual import (
    SimulatedExploration,
    combine,
    explore,
    simulated_logs,
    swap_propensities,
)
from producers.simulator import SimulationConfig, Simulator
from schemas.events import SearchEvent
from schemas.exploration import Exploration
from schemas.validation import describe

pytestmark = pytest.mark.unit


def test_explore_swaps_one_adjacent_pair_with_probability_epsilon() -> None:
    rng = random.Random(1)
    swaps = []
    for _ in range(20_000):
        shown, record = explore(list("abcdef"), 0.1, depth=4, rng=rng)
        assert record is not None and record.depth == 4 and record.epsilon == 0.1
        if record.swap is None:
            assert shown == list("abcdef")
        else:
            j = record.swap
            expected = list("abcdef")
            expected[j], expected[j + 1] = expected[j + 1], expected[j]
            assert shown == expected and j <= 2
            swaps.append(j)
    assert len(swaps) / 20_000 == pytest.approx(0.1, abs=0.01)
    assert np.bincount(swaps).tolist() == pytest.approx([len(swaps) / 3] * 3, rel=0.15)
    assert explore(["only"], 0.5, 10) == (["only"], None)
    assert explore(list("ab"), 1.0, 10, random.Random(0))[1] == Exploration(
        epsilon=1.0, depth=2, swap=0
    )


def test_the_record_travels_in_search_metadata_and_is_validated() -> None:
    shown, record = explore(["a", "b", "c"], 1.0, 3, random.Random(2))
    assert record is not None
    event = SearchEvent(query="q", results=shown, total_hits=3, metadata=record.to_metadata())
    assert event.metadata["exploration"]["swap"] == record.swap
    with pytest.raises(ValidationError) as bad:
        SearchEvent(query="q", results=["a"], total_hits=1,
                    metadata={"exploration": {"epsilon": 0.1, "depth": 5, "swap": 4}})  # fmt: skip
    assert describe(bad.value) == ["metadata: exploration: swap: must be <= depth - 2 (3), got 4"]
    with pytest.raises(ValidationError):
        SearchEvent(query="q", results=[], total_hits=0, metadata={"exploration": {"eps": 1}})


def test_swaps_identify_the_curve_where_a_deterministic_ranker_does_not() -> None:
    # No rank noise: every document has one position per query, so EM has nothing to fit
    # and falls back to the prior 1/(pos+1), while the true curve is 1/(pos+1)^1.5. Ten
    # percent exploration over the top 6 of 100k searches recovers it within ~10 %.
    config = SimulationConfig(searches=100_000, seed=3, rank_noise=0.0, propensity_eta=1.5)
    sim = Simulator(config)
    logs = simulated_logs(sim, exploration=SimulatedExploration(epsilon=0.1, depth=6))
    swaps = swap_propensities(logs)
    assert swaps is not None and swaps.depth == 6
    truth = sim.truth.relative_propensity[:6]
    assert np.allclose(swaps.propensity, truth, rtol=0.15)

    table = Simulator(replace(config, searches=20_000)).click_table()
    keys = table.query * 10**6 + table.doc
    em = estimate_position_bias(
        ClickCounts.from_columns(keys, table.position, table.impressions, table.clicks),
        max_positions=10,
    )
    assert all(p.source == "prior" for p in em.positions)
    theta, source, _ = combine(em, swaps, 10)
    assert source == "swaps"
    error = np.abs(theta[:6] / truth - 1).mean()
    prior_error = np.abs(em.propensity(np.arange(6)) / truth - 1).mean()
    assert error < 0.15 < prior_error
