"""The targets, on the simulator, where each policy's truth is known by running it.

100k logged searches from a noisy ranker; the propensities are estimated by EM from the same
logs (as `interactions counterfactual` does); five policies whose true clicks per search
differ by at least 5 % from one another. SNIPS and DR must land within +-5 % of each truth
and in the right order. (Interval coverage is measured over repeated simulations by
tests/bench/bench_counterfactual.py --coverage-runs, not asserted on one run.)
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from interaction_pipeline.analytics import ClickCounts, estimate_position_bias
from interaction_pipeline.counterfactual import (
    BoostCandidate,
    Candidate,
    LoggedPolicy,
    LoggedSearches,
    StaticCounts,
    evaluate,
    simulated_logs,
    true_values,
)
from interaction_pipeline.counterfactual._candidates import order_by_scores
from producers.simulator import SimulationConfig, Simulator
from stream_processors import BoostConfig

pytestmark = pytest.mark.unit

SEARCHES = 100_000
CONFIG = SimulationConfig(searches=SEARCHES, seed=11)


class NoisyRelevance:
    """Orders the shown results by true relevance plus fixed per-(query, doc) noise."""

    def __init__(self, sim: Simulator, noise: float, name: str) -> None:
        truth = sim.truth
        self.name = name
        rng = np.random.default_rng(17)
        self.score = noise * rng.standard_normal((len(truth.queries), len(truth.doc_ids) + 1))
        rows = np.repeat(np.arange(truth.candidates.shape[0]), truth.candidates.shape[1])
        self.score[rows, truth.candidates.ravel()] += truth.relevance.ravel()

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        return order_by_scores(logs.shown, self.score[logs.query[:, None], logs.shown])


class Reversed:
    name = "reversed"

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        return order_by_scores(logs.shown, np.broadcast_to(np.arange(logs.k), logs.shown.shape))


def _popularity(sim: Simulator) -> dict[str, float]:
    """A week of weighted counts per document, loosely tied to relevance."""
    rng = np.random.default_rng(3)
    counts: dict[str, float] = {}
    for q in range(sim.truth.candidates.shape[0]):
        for d, r in zip(sim.truth.candidates[q], sim.truth.relevance[q], strict=True):
            doc = sim.truth.doc_ids[d]
            counts[doc] = counts.get(doc, 0.0) + 20 * r * (0.7 + 0.6 * rng.random())
    return counts


def test_snips_and_dr_within_5_percent_and_in_order() -> None:
    sim = Simulator(CONFIG)
    logs = simulated_logs(sim)
    table = sim.click_table()
    bias = estimate_position_bias(
        ClickCounts.from_columns(
            table.query * 10**6 + table.doc, table.position, table.impressions, table.clicks
        ),
        max_positions=logs.k,
    )
    candidates: list[Candidate] = [
        Reversed(),
        BoostCandidate(BoostConfig(boost_multiplier=3.0), StaticCounts(_popularity(sim)), "boost"),
        NoisyRelevance(sim, 0.25, "model_b"),
        NoisyRelevance(sim, 0.08, "model_a"),
    ]
    fresh = Simulator(replace(CONFIG, searches=SEARCHES + 200_000)).batches()
    fresh_batches = list(itertools.islice(fresh, SEARCHES // 10_000, None))
    truth = {
        c.name: true_values(sim, c, fresh_batches)["clicks"] for c in [LoggedPolicy(), *candidates]
    }
    ordered = sorted(truth, key=truth.__getitem__)
    gaps = [truth[b] / truth[a] - 1 for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= 0.05, truth  # the policies really differ by >= 5 %

    report = evaluate(logs, candidates, bias.propensity(np.arange(logs.k)))
    results = {c.name: c for c in report.candidates}
    observed = report.logged["clicks"]
    assert observed == pytest.approx(truth["logged"], rel=0.01)
    for estimator in ("snips", "dr"):
        values = {
            name: results[name].estimates["clicks"][estimator] for name in truth if name in results
        }
        for name, estimate in values.items():
            assert estimate.value == pytest.approx(truth[name], rel=0.05), (estimator, name)
        values_all = {**{n: e.value for n, e in values.items()}, "logged": observed}
        assert sorted(values_all, key=values_all.__getitem__) == ordered, estimator
    assert results["reversed"].verdict == "worse"
    assert results["model_a"].verdict == "better"
