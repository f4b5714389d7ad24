"""Position-bias estimation against the simulator's known propensity curves.

The simulator draws clicks from a position-based model with a known examination curve; EM on
the aggregated (query, doc, position) counts must give the curve back. Errors for growing
simulations are printed (pytest -s) and must shrink.
"""

from __future__ import annotations

import numpy as np
import pytest

from interaction_pipeline.analytics.bias import (
    BiasEstimate,
    ClickCounts,
    effective_sample_size,
    estimate_position_bias,
    prior_propensity,
    rank_variation,
)
from producers.simulator import SimulationConfig, Simulator

pytestmark = pytest.mark.unit


def _counts(sim: Simulator) -> ClickCounts:
    table = sim.click_table()
    key = table.query * sim.config.docs + table.doc
    return ClickCounts.from_columns(key, table.position, table.impressions, table.clicks)


def _relative_errors(eta: float, searches: int, seed: int = 1) -> np.ndarray:
    sim = Simulator(SimulationConfig(searches=searches, propensity_eta=eta, seed=seed))
    estimate = estimate_position_bias(_counts(sim))
    assert estimate.fit.converged
    assert not estimate.uses_prior
    got = estimate.propensity(np.arange(10))
    errors: np.ndarray = np.abs(got / sim.truth.relative_propensity[:10] - 1.0)
    return errors


@pytest.mark.parametrize(
    ("eta", "sizes"),
    [
        (1.0, (10_000, 40_000, 160_000)),  # 1/(pos+1)
        (2.0, (50_000, 200_000, 800_000)),  # 1/(pos+1)^2: position 9 is examined 1% of the time
    ],
)
def test_em_recovers_the_propensity_curve_and_error_shrinks_with_data(
    eta: float, sizes: tuple[int, ...]
) -> None:
    errors = [_relative_errors(eta, n) for n in sizes]
    for n, err in zip(sizes, errors, strict=True):
        print(f"eta={eta} searches={n:>7}: mean rel. error {err.mean():.3f}, max {err.max():.3f}")
    assert errors[-1].max() < 0.10, "every one of the first 10 positions within 10 %"
    means = [e.mean() for e in errors]
    assert means[0] > means[1] > means[2]


def test_no_rank_variation_means_prior_and_a_note() -> None:
    sim = Simulator(SimulationConfig(searches=3_000, rank_noise=0.0, seed=2))
    estimate = estimate_position_bias(_counts(sim))
    assert estimate.rank_variation.varied_pairs == 0
    assert all(p.source == "prior" for p in estimate.positions)
    assert estimate.propensity([0, 1, 3]) == pytest.approx([1.0, 0.5, 0.25])
    assert any("not identifiable" in note for note in estimate.notes)


def test_thin_positions_fall_back_to_the_prior() -> None:
    # Position 1 is backed by plenty of data, position 2 by almost none.
    pair = np.array([0, 0, 1, 1, 2, 2])
    position = np.array([0, 1, 0, 1, 0, 2])
    impressions = np.array([1000, 1000, 1000, 1000, 1000, 5])
    clicks = np.array([500, 250, 300, 150, 400, 1])
    estimate = estimate_position_bias(
        ClickCounts.from_columns(pair, position, impressions, clicks), min_impressions=100
    )
    sources = [p.source for p in estimate.positions]
    assert sources == ["em", "em", "prior"]
    assert estimate.positions[1].propensity == pytest.approx(0.5, rel=0.05)
    assert estimate.positions[2].propensity == pytest.approx(1 / 3)
    assert any("2 have fewer than 100" in note for note in estimate.notes)


def test_rank_variation_measures_identifiability() -> None:
    counts = ClickCounts.from_columns(
        np.array(["a", "a", "b"]), np.array([0, 3, 1]), np.array([10, 30, 60]), np.zeros(3)
    )
    summary, varied = rank_variation(counts)
    assert (summary.pairs, summary.varied_pairs) == (2, 1)
    assert summary.varied_impression_share == pytest.approx(0.4)
    assert summary.mean_positions_per_pair == pytest.approx((2 * 40 + 1 * 60) / 100)
    assert varied.tolist() == [True, True, False]


def test_weights_are_clipped_and_the_tail_follows_the_prior() -> None:
    estimate = BiasEstimate.prior_only(5)
    assert estimate.inverse_weights([0, 1, 4], clip=3.0).tolist() == [1.0, 2.0, 3.0]
    # Beyond the table, the prior's shape continues from the last estimated position.
    assert estimate.propensity([9])[0] == pytest.approx(prior_propensity([9])[0])


def test_estimate_round_trips_through_json_dict() -> None:
    sim = Simulator(SimulationConfig(searches=2_000, seed=4))
    estimate = estimate_position_bias(_counts(sim), min_impressions=10)
    again = BiasEstimate.from_dict(estimate.to_dict())
    assert again == estimate


def test_clicks_above_impressions_are_capped() -> None:
    counts = ClickCounts.from_columns([1, 1], [0, 0], [5, 5], [7, 1])
    assert counts.impressions.tolist() == [10.0]
    assert counts.clicks.tolist() == [6.0]


def test_effective_sample_size() -> None:
    assert effective_sample_size(np.ones(10)) == pytest.approx(10.0)
    assert effective_sample_size(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert effective_sample_size(np.array([3.0, 1.0])) == pytest.approx(16 / 10)
