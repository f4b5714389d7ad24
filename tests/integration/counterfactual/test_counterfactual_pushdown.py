"""The SQL path (counterfactual_estimate.sql) against the numpy reference on simulated logs.

Both read the same chDB folder; the numpy `Evaluator` gets the SQL's cross-fitting folds
(`md5_folds`), so every estimate, interval, difference and support figure must agree to
rounding, for each metric.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from interaction_pipeline.analytics import DateRange, sql_text
from interaction_pipeline.counterfactual import (
    ESTIMATORS,
    Evaluator,
    LoggedSearches,
    Metric,
    OfflineEvaluation,
    SqlBoost,
    SqlOrder,
    estimate_in_sql,
    md5_folds,
)
from interaction_pipeline.counterfactual._candidates import order_by_scores
from interaction_pipeline.counterfactual._sql_boost import SCRATCH_PREFIX
from producers.simulator import SimulationConfig, Simulator
from schemas.errors import InvalidArgumentError
from stream_processors import BoostConfig
from tests.analytics_support import chdb_settings, insert_events, migrated_backend

pytestmark = pytest.mark.integration

END = datetime(2025, 3, 1, tzinfo=UTC)
CONFIG = SimulationConfig(searches=6_000, seed=11, end=END, days=7, queries=40, docs=600)
RANGE = DateRange(END - timedelta(days=8), END)
K = 10


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineEvaluation]:
    settings = chdb_settings(tmp_path_factory.mktemp("pushdown") / "chdb")
    backend = migrated_backend(settings)
    try:
        insert_events(backend, Simulator(CONFIG).events())
        yield OfflineEvaluation(backend, settings)
    finally:
        backend.close()


def _reversed(logs: LoggedSearches) -> np.ndarray:
    return order_by_scores(logs.shown, np.broadcast_to(np.arange(logs.k), logs.shown.shape))


@pytest.mark.parametrize("metric", ["clicks", "conversions"])
def test_sql_path_equals_the_numpy_path(evaluation: OfflineEvaluation, metric: Metric) -> None:
    logs = evaluation.logs(RANGE, k=K)
    theta = 1.0 / (np.arange(K) + 1.0) ** 0.8
    assert logs.query_ids is not None
    evaluator = Evaluator(logs, theta, fold=md5_folds(logs.query_ids))
    policy = evaluator.score("reversed", _reversed(logs))
    logged = evaluator.score("logged", logs.shown.copy())

    got = estimate_in_sql(evaluation.runner, RANGE, SqlOrder("reversed", "-pos"), theta,
                          metric=metric, k=K)  # fmt: skip

    assert got.searches == logs.n
    assert got.logged == pytest.approx(float(logs.outcome(metric).sum(axis=1).mean()), rel=1e-9)
    for estimator in ESTIMATORS:
        want = evaluator.estimate(policy, estimator, metric)
        diff = evaluator.difference(policy, logged, estimator, metric)
        for field in ("value", "std_error", "low", "high"):
            assert getattr(got.estimates[estimator], field) == pytest.approx(
                getattr(want, field), rel=1e-7, abs=1e-12
            ), (estimator, field)
            assert getattr(got.differences[estimator], field) == pytest.approx(
                getattr(diff, field), rel=1e-7, abs=1e-12
            ), (estimator, "difference", field)
    assert got.support == pytest.approx(policy.support, rel=1e-9)
    assert got.support_slots == pytest.approx(policy.support_slots, rel=1e-9)
    assert got.changed_share == pytest.approx(policy.changed_share, rel=1e-9)
    assert got.ess == pytest.approx(policy.ess, rel=1e-9)


def test_reward_is_refused_on_the_sql_path(evaluation: OfflineEvaluation) -> None:
    with pytest.raises(InvalidArgumentError, match="reward"):
        estimate_in_sql(evaluation.runner, RANGE, SqlOrder("r", "-pos"), np.ones(K),
                        metric="reward", k=K)  # fmt: skip


def test_logged_order_estimates_the_logged_outcome(evaluation: OfflineEvaluation) -> None:
    got = estimate_in_sql(evaluation.runner, RANGE, SqlOrder("logged", "pos"), np.ones(K), k=K)
    for estimator in ESTIMATORS:
        assert got.estimates[estimator].value == pytest.approx(got.logged, rel=1e-9)
        assert got.differences[estimator].value == pytest.approx(0.0, abs=1e-9)
    assert got.changed_share == 0.0 and got.support == pytest.approx(1.0)


def test_offline_evaluation_estimate_fits_the_propensities_itself(
    evaluation: OfflineEvaluation,
) -> None:
    got = evaluation.estimate(SqlOrder("reversed", "-pos"), RANGE, k=K)
    assert got.differences["dr"].high < 0  # reversing the lists loses clicks
    assert 0.6 * got.logged < got.estimates["dr"].value < 0.95 * got.logged


@pytest.mark.parametrize(
    "config",
    [
        BoostConfig(boost_multiplier=2.0, half_saturation=5.0),
        BoostConfig(
            interaction_types=["click", "long_view", "purchase"],
            time_window_days=1,
            boost_multiplier=3.0,
        ),
    ],
)
@pytest.mark.parametrize("materialize", [True, False])
def test_boost_on_the_sql_path_equals_the_numpy_replay(
    evaluation: OfflineEvaluation, config: BoostConfig, materialize: bool
) -> None:
    # The counts at each search's time from counterfactual_boost_counts.sql, and the boosted
    # order as a sort key, against BoostCandidate + TimelineCounts on the same chDB folder.
    logs = evaluation.logs(RANGE, k=K)
    theta = 1.0 / (np.arange(K) + 1.0) ** 0.8
    assert logs.query_ids is not None
    candidate = evaluation.boost(config)
    ranked = candidate.rank(logs)
    evaluator = Evaluator(logs, theta, fold=md5_folds(logs.query_ids))
    policy = evaluator.score("boost", ranked)
    logged = evaluator.score("logged", logs.shown.copy())
    assert 0.2 < policy.changed_share < 1.0  # the boost moves some lists, not all

    got = estimate_in_sql(
        evaluation.runner, RANGE, SqlBoost(config), theta, k=K, materialize=materialize
    )
    scratch = evaluation.runner.backend.query(
        "SELECT count() AS n FROM system.tables WHERE startsWith(name, {p:String})",
        {"p": SCRATCH_PREFIX},
    )
    assert scratch == [{"n": 0}]  # the counts table, when written, is dropped

    assert got.searches == logs.n
    assert got.changed_share == pytest.approx(policy.changed_share, rel=1e-9)
    for estimator in ESTIMATORS:
        want = evaluator.estimate(policy, estimator, "clicks")
        diff = evaluator.difference(policy, logged, estimator, "clicks")
        for field in ("value", "std_error", "low", "high"):
            assert getattr(got.estimates[estimator], field) == pytest.approx(
                getattr(want, field), rel=1e-7, abs=1e-12
            ), (estimator, field)
            assert getattr(got.differences[estimator], field) == pytest.approx(
                getattr(diff, field), rel=1e-7, abs=1e-12
            ), (estimator, "difference", field)
    assert got.support == pytest.approx(policy.support, rel=1e-9)
    assert got.ess == pytest.approx(policy.ess, rel=1e-9)


@pytest.mark.parametrize(
    "config",
    [
        BoostConfig(),
        BoostConfig(interaction_types=["click", "long_view", "purchase"], time_window_days=1),
    ],
)
def test_boost_counts_equal_the_timeline_replay_cell_by_cell(
    evaluation: OfflineEvaluation, config: BoostConfig
) -> None:
    # counterfactual_boost_counts.sql run alone: every shown cell's count equals
    # TimelineCounts' exactly (weights are dyadic, so the sums are exact in any order).
    logs = evaluation.logs(RANGE, k=K)
    assert logs.query_ids is not None
    want = evaluation.boost(config).counts.weighted_counts(logs, config)
    boost = SqlBoost(config)
    runner = evaluation.runner
    params = boost.params(runner, RANGE, None, K)
    rows = runner.backend.query(sql_text("counterfactual_boost_counts"), params)
    ids = logs.query_ids.to_pylist()
    keys = runner.backend.query(
        "SELECT q, cityHash64(q) AS k FROM (SELECT arrayJoin({ids:Array(String)}) AS q)",
        {"ids": ids},
    )
    search = {q: i for i, q in enumerate(ids)}
    counts_of = {r["count_key"]: r["counts"] for r in rows}
    got = np.zeros(logs.shown.shape)
    for key in keys:
        counts = counts_of[key["k"]]
        got[search[key["q"]], : len(counts)] = counts
    assert len(rows) == logs.n
    assert np.count_nonzero(want) > 0.5 * np.count_nonzero(logs.shown >= 0)
    np.testing.assert_array_equal(got, want)
