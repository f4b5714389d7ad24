"""The estimators on tiny logs whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from interaction_pipeline.counterfactual import (
    EvaluationOptions,
    Evaluator,
    LoggedPolicy,
    LoggedSearches,
    RankingCandidate,
    evaluate,
)

pytestmark = pytest.mark.unit

THETA = np.array([1.0, 0.5])


def _logs(shown: list[list[int]], clicks: list[list[int]], queries: int = 1) -> LoggedSearches:
    s = np.array(shown, dtype=np.int32)
    c = np.array(clicks, dtype=np.uint8)
    return LoggedSearches(
        query=np.arange(len(shown), dtype=np.int32) % queries,
        timestamp_ms=np.arange(len(shown), dtype=np.int64),
        shown=s,
        clicks=c,
        conversions=np.zeros_like(c),
        reward=c.astype(np.float32) * 2,
        docs=pa.array(["A", "B", "C"]),
        queries=pa.array([f"q{i}" for i in range(queries)]),
        query_ids=pa.array([f"s{i}" for i in range(len(shown))]),
    )


def test_hand_worked_ips_and_snips() -> None:
    # s0 shows A, B and A is clicked; s1 shows B, A and A is clicked. The candidate shows
    # B, A in both. IPS moves s0's click on A from position 0 to 1: weight 0.5/1; s1 is
    # unchanged: (0.5 + 1) / 2 = 0.75. SNIPS pools A: 2 clicks over 1 + 0.5 expected
    # examinations = 4/3, placed at position 1 (0.5) in both searches: 0.5 * 4/3 = 2/3.
    logs = _logs([[0, 1], [1, 0]], [[1, 0], [0, 1]])
    evaluator = Evaluator(logs, THETA)
    policy = evaluator.score("ba", np.array([[1, 0], [1, 0]]))
    assert policy.value("ips", "clicks") == pytest.approx(0.75)
    assert policy.value("snips", "clicks") == pytest.approx(2 / 3)
    assert policy.value("ips", "reward") == pytest.approx(1.5)  # reward = 2 x clicks
    assert policy.support == pytest.approx(1.0)
    assert policy.changed_share == pytest.approx(0.5)


def test_every_estimator_gives_the_logged_policy_its_observed_value() -> None:
    rng = np.random.default_rng(1)
    shown = np.array([rng.permutation(3)[:2] for _ in range(200)], dtype=np.int32)
    clicks = (rng.random((200, 2)) < [0.5, 0.2]).astype(np.uint8)
    logs = _logs(shown.tolist(), clicks.tolist(), queries=3)
    evaluator = Evaluator(logs, THETA)
    logged = evaluator.score("logged", LoggedPolicy().rank(logs))
    observed = clicks.sum(axis=1).mean()
    for estimator in ("ips", "snips", "dr"):
        assert logged.value(estimator, "clicks") == pytest.approx(observed)
        estimate = evaluator.estimate(logged, estimator, "clicks")
        assert estimate.low < observed < estimate.high
    same = evaluator.difference(logged, logged, "dr", "clicks")
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)


def test_thin_support_is_inconclusive_and_only_dr_extrapolates() -> None:
    logs = _logs([[0, 1]] * 50, [[1, 0]] * 25 + [[0, 1]] * 25)
    unseen = RankingCandidate({}, {"q0": ["C", "X"]}, name="unseen")
    report = evaluate(logs, [unseen], THETA, options=EvaluationOptions(min_support=0.7))
    (result,) = report.candidates
    assert result.verdict == "inconclusive"
    assert result.support == 0.0 and result.shown_share == 0.0
    assert result.estimates["clicks"]["ips"].value == 0.0
    assert result.estimates["clicks"]["snips"].value == 0.0
    assert result.estimates["clicks"]["dr"].value > 0.0  # the query's rate per examination
    assert any("too thin" in note for note in result.notes)
    assert report.worse == []


def test_partial_support_counts_only_comparable_positions() -> None:
    # C was only ever shown at position 1 (theta 0.5); a candidate putting it at position 0
    # (theta 1) is comparable with support_ratio 0.5 but not with 0.6.
    logs = _logs([[0, 2]] * 20, [[1, 0]] * 20)
    ranked = np.tile(np.array([[2, 0]]), (20, 1))
    loose = Evaluator(logs, THETA, support_ratio=0.5).score("c", ranked)
    strict = Evaluator(logs, THETA, support_ratio=0.6).score("c", ranked)
    assert loose.support == pytest.approx(1.0)
    assert strict.support == pytest.approx(0.5 / 1.5)  # only A's slot (theta 0.5) counts
    assert strict.shown_share == 1.0


def test_gate_fails_a_clearly_worse_candidate_and_passes_a_better_one() -> None:
    rng = np.random.default_rng(3)
    n = 4_000
    shown = np.tile(np.array([[0, 1], [1, 0]]), (n // 2, 1)).astype(np.int32)
    relevance = np.where(shown == 0, 0.6, 0.1)  # A is the good one
    clicks = (rng.random(shown.shape) < THETA * relevance).astype(np.uint8)
    logs = _logs(shown.tolist(), clicks.tolist())
    good = RankingCandidate({}, {"q0": ["A", "B"]}, name="a_first")
    bad = RankingCandidate({}, {"q0": ["B", "A"]}, name="b_first")
    report = evaluate(logs, [good, bad], THETA)
    verdicts = {c.name: c.verdict for c in report.candidates}
    assert verdicts == {"a_first": "better", "b_first": "worse"}
    assert report.worse == ["b_first"]
    truth = {"a_first": 0.6 + 0.5 * 0.1, "b_first": 0.1 + 0.5 * 0.6}
    for c in report.candidates:
        for estimator in ("ips", "snips", "dr"):
            estimate = c.estimates["clicks"][estimator]
            assert estimate.low < truth[c.name] < estimate.high, (c.name, estimator)


def test_bootstrap_intervals_agree_with_the_delta_method() -> None:
    rng = np.random.default_rng(4)
    shown = np.array([rng.permutation(3)[:2] for _ in range(3_000)], dtype=np.int32)
    clicks = (rng.random((3_000, 2)) < [0.4, 0.2]).astype(np.uint8)
    logs = _logs(shown.tolist(), clicks.tolist(), queries=2)
    flipped = RankingCandidate({}, {}, name="same")
    delta = evaluate(logs, [flipped], THETA).candidates[0]
    boot = evaluate(logs, [flipped], THETA, options=EvaluationOptions(interval="bootstrap"))
    for estimator in ("ips", "snips", "dr"):
        d = delta.estimates["clicks"][estimator]
        b = boot.candidates[0].estimates["clicks"][estimator]
        assert b.value == pytest.approx(d.value)
        assert (b.high - b.low) == pytest.approx(d.high - d.low, rel=0.25)


def test_bad_inputs_are_value_errors() -> None:
    logs = _logs([[0, 1]], [[1, 0]])
    with pytest.raises(ValueError, match="theta"):
        Evaluator(logs, np.array([1.0]))
    with pytest.raises(ValueError, match="baseline"):
        evaluate(logs, [], THETA, baseline="nope")
    with pytest.raises(ValueError, match="estimator"):
        EvaluationOptions(estimator="magic")  # type: ignore[arg-type]
