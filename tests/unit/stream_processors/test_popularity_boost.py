"""Properties of the boost formula and of the re-ranking, checked with hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stream_processors import BoostConfig, boosted_score, multiplier, rerank

pytestmark = pytest.mark.unit

counts = st.floats(min_value=0, max_value=1e12, allow_nan=False)
multipliers = st.floats(min_value=1.0, max_value=100.0, allow_nan=False)
saturations = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False)
scores = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(multipliers, saturations)
def test_no_interactions_means_multiplier_one(m: float, k: float) -> None:
    assert multiplier(0.0, m, k) == 1.0


@given(counts, multipliers, saturations)
def test_multiplier_stays_between_one_and_the_configured_bound(
    c: float, m: float, k: float
) -> None:
    assert 1.0 <= multiplier(c, m, k) <= m


@given(counts, counts, multipliers, saturations)
def test_multiplier_is_monotonic_in_the_weighted_count(
    a: float, b: float, m: float, k: float
) -> None:
    low, high = sorted((a, b))
    assert multiplier(low, m, k) <= multiplier(high, m, k)


@given(scores, counts, multipliers, saturations)
def test_a_boost_never_moves_a_score_down_whatever_its_sign(
    s: float, c: float, m: float, k: float
) -> None:
    assert boosted_score(s, multiplier(c, m, k)) >= s


@given(scores, counts, counts, multipliers, saturations)
def test_more_interactions_never_lower_the_boosted_score(
    s: float, a: float, b: float, m: float, k: float
) -> None:
    low, high = sorted((a, b))
    assert boosted_score(s, multiplier(low, m, k)) <= boosted_score(s, multiplier(high, m, k))


def test_half_saturation_gives_half_the_extra_boost() -> None:
    assert math.isclose(multiplier(10.0, 1.2, 10.0), 1.1)
    assert multiplier(1e30, 1.2, 10.0) <= 1.2


candidate_lists = st.lists(
    st.tuples(st.sampled_from([f"doc{i}" for i in range(8)]), scores), max_size=12
)
count_maps = st.dictionaries(
    st.sampled_from([f"doc{i}" for i in range(8)]),
    st.fixed_dictionaries({"click": st.integers(0, 10_000), "purchase": st.integers(0, 1_000)}),
)
configs = st.builds(
    BoostConfig,
    interaction_types=st.just(["click", "purchase"]),
    boost_multiplier=multipliers,
    half_saturation=saturations,
)
WEIGHTS = {"click": 1.0, "purchase": 5.0}


@given(candidate_lists, count_maps, configs)
def test_rerank_returns_every_candidate_sorted_by_boosted_score(
    candidates: list[tuple[str, float]], found: dict[str, dict[str, int]], config: BoostConfig
) -> None:
    ranked = rerank(candidates, found, WEIGHTS, config)
    assert sorted((c.feature_id, c.score) for c in ranked) == sorted(candidates)
    boosted = [c.boosted_score for c in ranked]
    assert boosted == sorted(boosted, reverse=True)
    for item in ranked:
        assert item.boosted_score >= item.score
        assert 1.0 <= item.multiplier <= config.boost_multiplier
        if item.weighted_count == 0:
            assert item.multiplier == 1.0 and item.boosted_score == item.score


@given(candidate_lists, count_maps, configs)
def test_an_item_that_dominates_another_is_never_ranked_below_it(
    candidates: list[tuple[str, float]], found: dict[str, dict[str, int]], config: BoostConfig
) -> None:
    ranked = rerank(candidates, found, WEIGHTS, config)
    for i, upper in enumerate(ranked):
        for lower in ranked[i + 1 :]:
            dominates = lower.score >= upper.score and lower.weighted_count >= upper.weighted_count
            strictly = lower.score > upper.score or lower.weighted_count > upper.weighted_count
            if dominates and strictly:
                assert lower.boosted_score <= upper.boosted_score


@given(candidate_lists, count_maps)
def test_multiplier_one_keeps_the_original_order(
    candidates: list[tuple[str, float]], found: dict[str, dict[str, int]]
) -> None:
    ranked = rerank(candidates, found, WEIGHTS, BoostConfig(boost_multiplier=1.0))
    expected = sorted(candidates, key=lambda c: c[1], reverse=True)
    assert [(c.feature_id, c.score) for c in ranked] == expected


def test_seed_config_shape_is_accepted_and_checked() -> None:
    config = BoostConfig.model_validate(
        {"interaction_types": ["click", "purchase"], "time_window_days": 7, "boost_multiplier": 1.2}
    )
    assert config.interaction_types == ["click", "purchase"]
    for bad, match in (
        ({"boost_multiplier": 0.5}, "greater than or equal to 1"),
        ({"interaction_types": ["skip"]}, "negative signal"),
        ({"interaction_types": ["Click"]}, "lower-case identifier"),
        ({"time_window_days": 31}, "less than or equal to 30"),
        ({"boost_multipler": 1.2}, "Extra inputs"),
    ):
        with pytest.raises(ValidationError, match=match):
            BoostConfig.model_validate(bad)


def test_non_finite_scores_are_refused() -> None:
    with pytest.raises(ValueError, match=r"candidates\[1\]: score must be a finite number"):
        rerank([("a", 1.0), ("b", math.nan)], {}, WEIGHTS, BoostConfig())
