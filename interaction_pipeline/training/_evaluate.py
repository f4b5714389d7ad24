"""Evaluate a retriever (or a ready ranking) on a dataset, and compare two of them.

Per-query metric arrays are kept, not only means: the paired bootstrap and the lift
experiments need them, and a mean alone hides which queries moved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training._beir import Dataset
from interaction_pipeline.training._bootstrap import paired_bootstrap
from interaction_pipeline.training._metrics import parse_metric
from interaction_pipeline.training.errors import ConfigError

Rankings = Mapping[str, Sequence[str]]
"""query id -> document ids, best first: what a retriever returns and the offline A/B logs."""

DEFAULT_METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks a corpus for queries; the embedding retriever is one."""

    def retrieve(
        self, corpus: Mapping[str, str], queries: Mapping[str, str], top_k: int
    ) -> dict[str, list[str]]:
        """Document ids best first, per query id."""
        ...


@dataclass(frozen=True)
class EvaluationResult:
    """Per-query metric values over the judged queries, in ``query_ids`` order."""

    name: str
    query_ids: tuple[str, ...]
    per_query: Mapping[str, NDArray[np.float64]]

    @property
    def means(self) -> dict[str, float]:
        """Metric name -> mean over queries."""
        return {m: float(v.mean()) if v.size else float("nan") for m, v in self.per_query.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (for model cards and result files)."""
        return {"name": self.name, "queries": len(self.query_ids), "metrics": self.means}

    def __str__(self) -> str:
        cells = "  ".join(f"{m}={v:.4f}" for m, v in self.means.items())
        return f"{self.name or 'system'} ({len(self.query_ids)} queries): {cells}"


@dataclass(frozen=True)
class MetricDelta:
    """One metric of a comparison: means, difference and its bootstrap interval."""

    metric: str
    base: float
    other: float
    absolute: float
    relative_pct: float | None
    ci_low: float
    ci_high: float
    relative_ci_low: float | None
    relative_ci_high: float | None

    def __str__(self) -> str:
        rel = "n/a" if self.relative_pct is None else f"{self.relative_pct:+.1f}%"
        rel_ci = (
            ""
            if self.relative_ci_low is None or self.relative_ci_high is None
            else f" [{self.relative_ci_low:+.1f}%, {self.relative_ci_high:+.1f}%]"
        )
        return (
            f"{self.metric}: {self.base:.4f} -> {self.other:.4f} "
            f"({self.absolute:+.4f} [{self.ci_low:+.4f}, {self.ci_high:+.4f}], {rel}{rel_ci})"
        )


@dataclass(frozen=True)
class Comparison:
    """Per-metric differences of ``other`` against ``base`` over the same queries."""

    base: EvaluationResult
    other: EvaluationResult
    deltas: Mapping[str, MetricDelta]
    confidence: float
    resamples: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (model cards, result files)."""
        return {
            "base": self.base.to_dict(),
            "other": self.other.to_dict(),
            "confidence": self.confidence,
            "resamples": self.resamples,
            "deltas": {m: vars(d) for m, d in self.deltas.items()},
        }

    def __str__(self) -> str:
        head = f"{self.other.name or 'other'} vs {self.base.name or 'base'}"
        head += f" ({len(self.base.query_ids)} queries, {self.confidence:.0%} CI):"
        return "\n".join([head, *(f"  {d}" for d in self.deltas.values())])


def evaluate(
    system: Retriever | Rankings,
    dataset: Dataset,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    name: str = "",
) -> EvaluationResult:
    """Score a retriever or a ranking dict on the dataset's judged queries.

    Queries without a relevant judgement are skipped; a judged query missing from a ranking
    scores 0 (the system returned nothing for it).
    """
    parsed = {m: parse_metric(m) for m in metrics}
    judged = dataset.judged_queries()
    if isinstance(system, Retriever):
        depth = max(k for _, k in parsed.values())
        rankings: Rankings = system.retrieve(dataset.document_texts(), judged, depth)
    else:
        rankings = system
    query_ids = tuple(judged)
    per_query = {
        m: np.array(
            [fn(rankings.get(q, ()), dataset.qrels[q], k) for q in query_ids], dtype=np.float64
        )
        for m, (fn, k) in parsed.items()
    }
    return EvaluationResult(name=name, query_ids=query_ids, per_query=per_query)


def compare(
    base: EvaluationResult,
    other: EvaluationResult,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Difference of ``other`` against ``base`` per metric, with a paired bootstrap interval."""
    if set(base.query_ids) != set(other.query_ids):
        raise ConfigError(
            f"results cover different queries ({len(base.query_ids)} vs "
            f"{len(other.query_ids)}, {len(set(base.query_ids) ^ set(other.query_ids))} differ): "
            "evaluate both systems on the same dataset"
        )
    if not base.query_ids:
        raise ConfigError("results cover no judged queries: nothing to compare")
    order = {q: i for i, q in enumerate(other.query_ids)}
    align = np.array([order[q] for q in base.query_ids], dtype=np.int64)
    deltas: dict[str, MetricDelta] = {}
    for metric, base_values in base.per_query.items():
        if metric not in other.per_query:
            continue
        other_values = other.per_query[metric][align]
        interval = paired_bootstrap(
            base_values, other_values, resamples=resamples, confidence=confidence, seed=seed
        )
        b, o = float(base_values.mean()), float(other_values.mean())
        deltas[metric] = MetricDelta(
            metric=metric,
            base=b,
            other=o,
            absolute=o - b,
            relative_pct=(o - b) / b * 100 if b > 0 else None,
            ci_low=interval.low,
            ci_high=interval.high,
            relative_ci_low=interval.relative_low,
            relative_ci_high=interval.relative_high,
        )
    return Comparison(base, other, deltas, confidence, resamples)
