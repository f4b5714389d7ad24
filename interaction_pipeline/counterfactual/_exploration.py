"""What logged swaps tell: the examination curve from interventions, and what they cost.

Searches with `metadata.exploration` had one adjacent pair (j, j + 1) swapped with a known
probability. Comparing swapped with unswapped explored searches gives theta[j+1] / theta[j]
without any model of the ranker (Joachims et al., WSDM 2017, swap interventions):

    theta[j+1]   clicks at j+1 per search: swapped (the item that belonged at j) + unswapped
    ---------- = -------------------------------------------------------------------------
    theta[j]     clicks at j per search:   unswapped (the item that belonged at j) + swapped

(both sums hold the two items' relevance once each, so it cancels). Chained over j, the
ratios give the curve inside the exploration depth. The EM estimate uses the same swapped
impressions as rank variation; these ratios need no rank variation at all, which is what a
deterministic ranker lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from interaction_pipeline.analytics import BiasEstimate
from interaction_pipeline.counterfactual._logs import LoggedSearches, Metric

MIN_SWAPPED_CLICKS: Final = 20
"""Clicks a pair's swapped searches need before its ratio is used."""


@dataclass(frozen=True, slots=True)
class SwapEstimate:
    """Relative examination inside the exploration depth, from logged swaps."""

    propensity: np.ndarray
    """theta[j] / theta[0] for j < depth; NaN past the first pair without enough data."""
    ratios: np.ndarray
    """theta[j+1] / theta[j] per pair (NaN: too little data)."""
    swapped: np.ndarray
    """Searches in which each pair was swapped."""
    explored: int
    """Searches that went through the randomisation."""
    epsilon: float
    depth: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "explored_searches": self.explored,
            "epsilon": self.epsilon,
            "depth": self.depth,
            "swapped_per_pair": self.swapped.tolist(),
            "ratios": [None if np.isnan(r) else float(r) for r in self.ratios],
            "propensity": [None if np.isnan(p) else float(p) for p in self.propensity],
        }


def swap_propensities(logs: LoggedSearches, metric: Metric = "clicks") -> SwapEstimate | None:
    """The swap-intervention curve, or None when the logs hold no exploration."""
    if logs.epsilon is None or logs.swap is None or logs.depth is None:
        return None
    explored = logs.explored
    if not explored.any():
        return None
    depth = int(min(logs.depth[explored].max(), logs.k))
    y = logs.outcome(metric)
    unswapped = explored & (logs.swap < 0)
    n_u = max(int(unswapped.sum()), 1)
    ctr_u = y[unswapped].sum(axis=0) / n_u
    ratios = np.full(depth - 1, np.nan)
    swapped = np.zeros(depth - 1, dtype=np.int64)
    for j in range(depth - 1):
        rows = explored & (logs.swap == j)
        swapped[j] = int(rows.sum())
        if swapped[j] == 0:
            continue
        ctr_s = y[rows].sum(axis=0) / swapped[j]
        numerator = ctr_s[j + 1] + ctr_u[j + 1]
        denominator = ctr_u[j] + ctr_s[j]
        if y[rows][:, [j, j + 1]].sum() >= MIN_SWAPPED_CLICKS and denominator > 0:
            ratios[j] = numerator / denominator
    propensity = np.concatenate([[1.0], np.cumprod(ratios)])
    return SwapEstimate(
        propensity=propensity,
        ratios=ratios,
        swapped=swapped,
        explored=int(explored.sum()),
        epsilon=float(np.median(logs.epsilon[explored])),
        depth=depth,
    )


def combine(
    em: BiasEstimate, swaps: SwapEstimate | None, k: int, source: str = "auto"
) -> tuple[np.ndarray, str, list[str]]:
    """The curve the estimators use: (theta for positions 0..k-1, source, notes).

    `source`: "em" (the EM fit), "swaps" (the swap ratios inside the depth, continued by the
    EM curve's shape beyond it) or "auto": swaps when they exist and the EM fit rests on the
    prior for some of the first k positions or on little rank variation, else EM.
    """
    theta = em.propensity(np.arange(k))
    notes: list[str] = []
    em_weak = any(p.source == "prior" for p in em.positions[:k]) or (
        em.rank_variation.varied_impression_share < 0.2
    )
    use_swaps = source == "swaps" or (source == "auto" and swaps is not None and em_weak)
    if not use_swaps:
        if em_weak:
            notes.append(
                "the examination curve rests partly on the prior (little rank variation): "
                "estimates of rankings that move results far are uncertain beyond their "
                "intervals; log a small exploration (docs/counterfactual.md) to fix that"
            )
        return theta, "em", notes
    if swaps is None:
        notes.append("no exploration in these logs: using the EM curve")
        return theta, "em", notes
    known = swaps.propensity[: min(k, swaps.propensity.size)]
    good = int(np.argmax(np.isnan(known))) if np.isnan(known).any() else known.size
    out = theta.copy()
    out[:good] = known[:good]
    if good < k:
        out[good:] = theta[good:] * (known[good - 1] / theta[good - 1])
        notes.append(
            f"swap interventions cover positions 0-{good - 1}; positions {good}-{k - 1} follow "
            "the EM curve's shape"
        )
    return out, "swaps", notes


def exploration_cost(
    pairs_rate: np.ndarray,
    shown_code: np.ndarray,
    theta: np.ndarray,
    epsilon: float,
    depth: int,
) -> float:
    """Expected outcome lost per search by swapping with probability epsilon inside depth:
    epsilon / (depth - 1) * mean over searches of sum_j (theta_j - theta_j+1)(g_j - g_j+1),
    with g the per-(query, doc) rates the logs give (0 for padding)."""
    depth = min(depth, shown_code.shape[1])
    if depth < 2:
        return 0.0
    g = np.where(shown_code >= 0, pairs_rate[np.maximum(shown_code, 0)], 0.0)[:, :depth]
    drop = (theta[: depth - 1] - theta[1:depth])[None, :] * (g[:, :-1] - g[:, 1:])
    return float(epsilon / (depth - 1) * drop.sum(axis=1).mean())
