"""IPW sanity: inverse-propensity-weighted click rates rank documents by true relevance better
than raw click counts do (and than plain CTR), with propensities estimated by EM, not given.
"""

from __future__ import annotations

import numpy as np
import pytest

from interaction_pipeline.analytics.bias import ClickCounts, estimate_position_bias
from producers.simulator import SimulationConfig, Simulator

pytestmark = pytest.mark.unit

MIN_IMPRESSIONS = 30


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    i, j = np.triu_indices(a.size, 1)
    return float((np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])).sum() / i.size)


def ndcg(scores: np.ndarray, relevance: np.ndarray, k: int = 5) -> float:
    order = np.argsort(-scores, kind="stable")[:k]
    ideal = np.sort(relevance)[::-1][:k]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    return float((relevance[order] * discount[: order.size]).sum() / (ideal * discount).sum())


def test_kendall_and_ndcg_helpers() -> None:
    assert kendall_tau(np.array([1.0, 2, 3]), np.array([10.0, 20, 30])) == 1.0
    assert kendall_tau(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == -1.0
    assert ndcg(np.array([3.0, 2, 1]), np.array([0.9, 0.5, 0.1]), k=3) == pytest.approx(1.0)


def test_ipw_ranks_documents_closer_to_true_relevance() -> None:
    sim = Simulator(SimulationConfig(searches=60_000, rank_noise=0.3, seed=5))
    table = sim.click_table()
    counts = ClickCounts.from_columns(
        table.query * sim.config.docs + table.doc, table.position, table.impressions, table.clicks
    )
    estimate = estimate_position_bias(counts)
    weight = estimate.inverse_weights(table.position, clip=20.0)
    truth = sim.truth
    scores: dict[str, list[tuple[float, float]]] = {"raw clicks": [], "ctr": [], "ipw ctr": []}
    for q in range(truth.candidates.shape[0]):
        rows = table.query == q
        docs, inverse = np.unique(table.doc[rows], return_inverse=True)
        impressions = np.bincount(inverse, weights=table.impressions[rows])
        keep = impressions >= MIN_IMPRESSIONS
        if keep.sum() < 3:
            continue
        clicks = np.bincount(inverse, weights=table.clicks[rows])[keep]
        ipw_clicks = np.bincount(inverse, weights=table.clicks[rows] * weight[rows])[keep]
        shown = impressions[keep]
        relevance_of = dict(zip(truth.candidates[q], truth.relevance[q], strict=True))
        relevance = np.array([relevance_of[d] for d in docs[keep]])
        for name, score in (
            ("raw clicks", clicks),
            ("ctr", clicks / shown),
            ("ipw ctr", ipw_clicks / shown),
        ):
            scores[name].append((kendall_tau(score, relevance), ndcg(score, relevance)))
    summary = {name: np.mean(values, axis=0) for name, values in scores.items()}
    for name, (tau, gain) in summary.items():
        print(f"{name:>10}: Kendall tau {tau:.3f}, NDCG@5 {gain:.3f}")
    raw, ctr, ipw = summary["raw clicks"], summary["ctr"], summary["ipw ctr"]
    assert ipw[0] > raw[0] + 0.10
    assert ipw[1] > raw[1] + 0.03
    assert ipw[0] > ctr[0] and ipw[1] > ctr[1]
