"""compare(): per-metric differences with a paired bootstrap interval over queries."""

from __future__ import annotations

import numpy as np
import pytest

from interaction_pipeline.training import ConfigError, EvaluationResult, compare
from interaction_pipeline.training._bootstrap import paired_bootstrap

pytestmark = pytest.mark.unit


def result(
    name: str, values: list[float] | np.ndarray, ids: list[str] | None = None
) -> EvaluationResult:
    array = np.asarray(values, dtype=np.float64)
    query_ids = tuple(ids or [f"q{i}" for i in range(len(array))])
    return EvaluationResult(name=name, query_ids=query_ids, per_query={"ndcg@10": array})


def test_difference_and_relative_change() -> None:
    delta = compare(result("a", [0.2, 0.4]), result("b", [0.3, 0.6])).deltas["ndcg@10"]
    assert delta.base == pytest.approx(0.3)
    assert delta.other == pytest.approx(0.45)
    assert delta.absolute == pytest.approx(0.15)
    assert delta.relative_pct == pytest.approx(50.0)
    assert delta.ci_low <= delta.absolute <= delta.ci_high


def test_a_constant_difference_has_a_zero_width_interval() -> None:
    base = np.linspace(0.1, 0.8, 50)
    delta = compare(result("a", base), result("b", base + 0.05)).deltas["ndcg@10"]
    assert delta.ci_low == pytest.approx(0.05)
    assert delta.ci_high == pytest.approx(0.05)


def test_one_query_gives_the_point_as_interval() -> None:
    delta = compare(result("a", [0.5]), result("b", [0.25])).deltas["ndcg@10"]
    assert (delta.ci_low, delta.ci_high) == pytest.approx((-0.25, -0.25))
    assert delta.relative_pct == pytest.approx(-50.0)


def test_a_zero_base_has_no_relative_change() -> None:
    delta = compare(result("a", [0.0, 0.0]), result("b", [0.5, 0.0])).deltas["ndcg@10"]
    assert delta.relative_pct is None
    assert delta.relative_ci_low is None
    assert "n/a" in str(delta)


def test_queries_are_paired_by_id_not_by_position() -> None:
    base = result("a", [0.1, 0.9], ["x", "y"])
    same_in_other_order = result("b", [0.9, 0.1], ["y", "x"])
    delta = compare(base, same_in_other_order).deltas["ndcg@10"]
    assert delta.absolute == 0.0
    assert (delta.ci_low, delta.ci_high) == (0.0, 0.0)


def test_different_query_sets_are_refused() -> None:
    with pytest.raises(ConfigError, match="different queries"):
        compare(result("a", [0.1, 0.2]), result("b", [0.1, 0.2], ["q0", "other"]))


def test_same_seed_same_interval_and_seed_matters() -> None:
    rng = np.random.default_rng(7)
    base, other = rng.random(40), rng.random(40)
    first = paired_bootstrap(base, other, resamples=500, seed=3)
    assert paired_bootstrap(base, other, resamples=500, seed=3) == first
    assert paired_bootstrap(base, other, resamples=500, seed=4) != first


def test_interval_covers_the_true_difference_at_about_the_nominal_rate() -> None:
    """Simulate many experiments with a known true difference of 0.05: ~95% must cover it."""
    rng = np.random.default_rng(0)
    trials, n, covered = 200, 100, 0
    for trial in range(trials):
        base = rng.random(n)
        other = base + 0.05 + rng.normal(0, 0.1, n)
        interval = paired_bootstrap(base, other, resamples=1000, seed=trial)
        covered += interval.low <= 0.05 <= interval.high
    assert 0.88 <= covered / trials <= 0.99


def test_paired_interval_is_narrower_than_the_spread_of_scores() -> None:
    """Pairing removes between-query variance: a small consistent gain is significant."""
    base = np.random.default_rng(1).random(200)
    interval = paired_bootstrap(base, base + 0.01 + np.random.default_rng(2).normal(0, 0.01, 200))
    assert interval.low > 0


def test_chunked_resampling_matches_for_many_queries() -> None:
    base = np.random.default_rng(5).random(5000)
    interval = paired_bootstrap(base, base + 0.1, resamples=2000)
    assert interval.low == pytest.approx(0.1)
    assert interval.relative_low is not None


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="confidence"):
        paired_bootstrap(np.zeros(3), np.zeros(3), confidence=1.5)
    with pytest.raises(ConfigError, match="shape"):
        paired_bootstrap(np.zeros(3), np.zeros(4))


def test_comparison_renders_and_serialises() -> None:
    comparison = compare(result("base", [0.2, 0.4]), result("tuned", [0.3, 0.6]))
    assert "tuned vs base" in str(comparison)
    assert comparison.to_dict()["deltas"]["ndcg@10"]["absolute"] == pytest.approx(0.15)
