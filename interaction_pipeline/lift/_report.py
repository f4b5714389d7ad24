"""The lift report: per-seed comparisons, their mean over seeds, and intervals.

Each seed is a separate simulated deployment (its own query split, users and clicks), so the
summary over seeds must not pretend the seeds' queries are one sample: the pooled interval is a
stratified paired bootstrap that resamples queries within each seed (same indices for base and
tuned), averages the seeds' means, and takes the percentile interval of the relative change of
that average. With one seed it is the ordinary paired bootstrap of ``training.compare``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training import EvaluationResult, compare

METRICS: Final = ("ndcg@10", "recall@10", "mrr@10")
HEADLINE: Final = "ndcg@10"
SPLITS: Final = ("held_out_sessions", "held_out_queries")

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Paired:
    """Per-query values of two systems over the same queries of one seed."""

    base: Array
    other: Array


def paired(base: EvaluationResult, other: EvaluationResult, metric: str = HEADLINE) -> Paired:
    """Align ``other`` to ``base``'s query order."""
    order = {q: i for i, q in enumerate(other.query_ids)}
    align = np.array([order[q] for q in base.query_ids], dtype=np.int64)
    return Paired(base.per_query[metric], other.per_query[metric][align])


def stratified_lift(
    strata: Sequence[Paired], *, resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float | None, list[float | None]]:
    """Relative change (%) of the mean over strata, and its stratified bootstrap interval."""
    strata = [s for s in strata if s.base.size]
    if not strata:
        return None, [None, None]
    base = float(np.mean([s.base.mean() for s in strata]))
    other = float(np.mean([s.other.mean() for s in strata]))
    if base <= 0:
        return None, [None, None]
    rng = np.random.default_rng(seed)
    base_means = np.zeros(resamples)
    other_means = np.zeros(resamples)
    for s in strata:
        idx = rng.integers(0, s.base.size, size=(resamples, s.base.size))
        base_means += s.base[idx].mean(axis=1)
        other_means += s.other[idx].mean(axis=1)
    base_means /= len(strata)
    other_means /= len(strata)
    tail = (1 - confidence) / 2 * 100
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = (other_means - base_means) / base_means * 100
    relative = relative[np.isfinite(relative)]
    low, high = np.percentile(relative, [tail, 100 - tail])
    return (other - base) / base * 100, [_round(low), _round(high)]


def comparison(
    base: EvaluationResult, other: EvaluationResult, *, resamples: int, seed: int
) -> dict[str, Any]:
    """One seed, one split: means, relative nDCG@10 change and its interval, all deltas."""
    result = compare(base, other, resamples=resamples, seed=seed)
    head = result.deltas[HEADLINE]
    return {
        "queries": len(base.query_ids),
        "base": _means(base),
        "tuned": _means(other),
        "lift_pct": _round(head.relative_pct),
        "ci95": [_round(head.relative_ci_low), _round(head.relative_ci_high)],
        "deltas": {
            m: {
                "absolute": _round(d.absolute),
                "ci95": [_round(d.ci_low), _round(d.ci_high)],
                "relative_pct": _round(d.relative_pct),
            }
            for m, d in result.deltas.items()
        },
    }


def summarise(
    per_seed: Sequence[Mapping[str, Any]],
    strata: Sequence[Paired],
    *,
    resamples: int,
) -> dict[str, Any]:
    """Mean over seeds of per-seed comparisons, with the stratified interval of the lift."""
    lift, interval = stratified_lift(strata, resamples=resamples)
    return {
        "queries": [s["queries"] for s in per_seed],
        "base": _mean_metrics([s["base"] for s in per_seed]),
        "tuned": _mean_metrics([s["tuned"] for s in per_seed]),
        "lift_pct": _round(lift),
        "ci95": interval,
        "per_seed_lift_pct": [s["lift_pct"] for s in per_seed],
    }


def versus_full(
    strata: Sequence[Paired], per_seed_lift: Sequence[float | None], *, resamples: int
) -> dict[str, Any]:
    """An ablation against the full method: negative means the removed part helped."""
    lift, interval = stratified_lift(strata, resamples=resamples)
    return {"lift_pct": _round(lift), "ci95": interval, "per_seed_lift_pct": list(per_seed_lift)}


def _means(result: EvaluationResult) -> dict[str, float | None]:
    return {m: _round(v) for m, v in result.means.items()}


def _mean_metrics(rows: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    keys = list(rows[0]) if rows else []
    return {k: _round(float(np.mean([r[k] for r in rows if r[k] is not None]))) for k in keys}


def _round(value: float | np.floating[Any] | None, digits: int = 4) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)
