"""The lift report: stratified intervals, assembly of seeds and splits, random negatives,
the synthetic dataset and the results file."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from interaction_pipeline.lift import (
    LiftConfig,
    record_run,
    stratified_lift,
    synthetic_dataset,
    write_synthetic,
)
from interaction_pipeline.lift._experiment import _assemble
from interaction_pipeline.lift._pairs import _random_negatives, normalise_query
from interaction_pipeline.lift._report import Paired
from interaction_pipeline.training import (
    EmbeddingRetriever,
    EvaluationResult,
    FineTunedModel,
    QueryAdapter,
    evaluate,
    load_beir,
)
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.unit

METRICS = ("ndcg@10", "recall@10", "mrr@10")


def test_stratified_lift_of_a_known_change() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, size=200)
    strata = [Paired(base, base * 1.25), Paired(base[:100], base[:100] * 1.25)]
    lift, (low, high) = stratified_lift(strata, resamples=2_000)
    assert lift == pytest.approx(25.0)
    assert low == pytest.approx(25.0, abs=1e-6) and high == pytest.approx(25.0, abs=1e-6)


def test_stratified_lift_interval_covers_noise_around_zero() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.6, size=150)
    other = base + rng.normal(0, 0.1, size=150)
    lift, (low, high) = stratified_lift([Paired(base, other)], resamples=2_000)
    assert low is not None and high is not None and lift is not None
    assert low < lift < high
    assert low < 0 < high


def test_stratified_lift_without_queries_is_empty() -> None:
    empty = np.zeros(0)
    assert stratified_lift([Paired(empty, empty)]) == (None, [None, None])


def _seed_report(seed: int, results: dict[str, Any]) -> dict[str, Any]:
    return {
        "seed": seed,
        "queries": {"traffic": 4, "held_out": 4},
        "_base": results["base"],
        "_tuned": {v: results[v] for v in ("full", "no_ipw", "random_negatives")},
    }


def test_assembled_report_has_every_split_ablation_and_seed() -> None:
    """Built from real evaluations (fake embedder, a perturbing adapter) of a tiny dataset."""
    data = synthetic_dataset(products=4)
    embedder = WordHashEmbedder()
    ids = list(data.judged_queries())
    subsets = {
        "held_out_sessions": data.subset(ids[: len(ids) // 2]),
        "held_out_queries": data.subset(ids[len(ids) // 2 :]),
    }
    base = EmbeddingRetriever(embedder, cache_dir=None, progress=False)
    rng = np.random.default_rng(0)
    systems: dict[str, Any] = {"base": base}
    for variant in ("full", "no_ipw", "random_negatives"):
        matrix = np.eye(32) + rng.normal(0, 0.3, size=(32, 32))
        systems[variant] = FineTunedModel(
            embedder, QueryAdapter(matrix), {}, cache_dir=None, progress=False
        )
    results: dict[str, dict[str, EvaluationResult]] = {
        name: {k: evaluate(s, d, metrics=METRICS, name=name) for k, d in subsets.items()}
        for name, s in systems.items()
    }
    report = _assemble(
        [_seed_report(1, results), _seed_report(2, results)], LiftConfig(resamples=500)
    )
    json.dumps(report)  # plain JSON
    assert set(report) == {"splits", "ablations", "seeds"}
    for split in ("held_out_sessions", "held_out_queries"):
        s = report["splits"][split]
        assert set(s["base"]) == set(s["tuned"]) == set(METRICS)
        assert len(s["ci95"]) == 2 and s["ci95"][0] <= s["lift_pct"] <= s["ci95"][1]
        assert s["per_seed_lift_pct"] == [s["lift_pct"], s["lift_pct"]]
        base_ndcg = results["base"][split].means["ndcg@10"]
        tuned_ndcg = results["full"][split].means["ndcg@10"]
        assert s["lift_pct"] == pytest.approx((tuned_ndcg / base_ndcg - 1) * 100, abs=1e-3)
    assert set(report["ablations"]) == {"no_position_bias_correction", "random_negatives"}
    ablation = report["ablations"]["random_negatives"]["held_out_sessions"]
    assert set(ablation["vs_full"]) == {"lift_pct", "ci95", "per_seed_lift_pct"}
    assert [s["seed"] for s in report["seeds"]] == [1, 2]
    assert "_base" not in report["seeds"][0]
    assert report["seeds"][0]["splits"]["held_out_queries"]["queries"] == len(ids) - len(ids) // 2


def test_random_negatives_never_pick_a_positive_of_the_query() -> None:
    rows = [
        SimpleNamespace(query="q", positive_id=d, negative_id="x", negative_source="explicit")
        for d in ("a", "b")
    ]
    rows = [_as_pair(r) for r in rows]
    out = _random_negatives(rows, ["a", "b", "c"], seed=1)
    assert {r.negative_id for r in out} == {"c"}
    assert {r.negative_source for r in out} == {"random"}
    assert _random_negatives(rows, ["a", "b"], seed=1)[0].negative_id is None


def _as_pair(row: SimpleNamespace) -> Any:
    from interaction_pipeline.analytics import TrainingPair

    return TrainingPair(
        query=row.query,
        positive_id=row.positive_id,
        negative_id=row.negative_id,
        negative_source=row.negative_source,
        weight=1.0,
        strength=1.0,
        ipw=1.0,
        propensity=1.0,
        mean_position=0.0,
        positive_events=2,
        conversions=0,
        long_views=0,
        negative_events=0,
        clipped_events=0,
    )


def test_query_keys_match_the_export() -> None:
    assert normalise_query("  Wind Tunnel Tests ") == "wind tunnel tests"


def test_synthetic_dataset_is_seeded_and_round_trips(tmp_path: Path) -> None:
    data = synthetic_dataset(products=3, docs_per_kind=2)
    assert len(data.corpus) == 3 * 4 * 2 and len(data.queries) == 3 * 8
    assert data.judged_queries() == data.queries
    assert synthetic_dataset(products=3) == synthetic_dataset(products=3)
    assert synthetic_dataset(products=3, seed=1).corpus != data.corpus
    grades = {g for docs in data.qrels.values() for g in docs.values()}
    assert grades == {1, 2}
    loaded = load_beir(write_synthetic(tmp_path / "syn", products=3))
    assert loaded.queries == data.queries and dict(loaded.qrels) == {
        q: dict(d) for q, d in data.qrels.items()
    }
    with pytest.raises(ValueError, match="products"):
        synthetic_dataset(products=0)


def test_record_appends_one_line_per_run(tmp_path: Path) -> None:
    report = {
        "splits": {"held_out_sessions": {"lift_pct": 25.0}},
        "ablations": {},
        "timing": {"total_s": 12.0},
        "config": {"dataset": "tiny"},
        "traffic": {"events": 10},
    }
    path = tmp_path / "results" / "lift.jsonl"
    record_run(report, path, load_before=[0.1, 0.2, 0.3])
    record_run(report, path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["bench"] == "lift" and lines[0]["load_before"] == [0.1, 0.2, 0.3]
    assert lines[0]["figures"]["splits"]["held_out_sessions"]["lift_pct"] == 25.0
    assert {"date", "machine", "commit"} <= set(lines[0])
    assert "load_1_5_15" in lines[0]["machine"]
