"""Simulated logs and each candidate's true value: how the estimators are validated.

`producers.simulator` draws clicks from a position-based model whose examination curve and
relevances it knows (`GroundTruth`). Here its search batches become `LoggedSearches` directly
(no events, no ClickHouse), optionally with the logged swap randomisation applied, and a
candidate's truth is computed by running it: its ranking of fresh simulated searches, scored
with the known examination and relevance (expected values, so no click noise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from interaction_pipeline.counterfactual._candidates import Candidate
from interaction_pipeline.counterfactual._logs import METRICS, LoggedSearches, Metric
from producers.simulator import SearchBatch, Simulator
from schemas.interaction_types import CLICK, LONG_VIEW, PURCHASE, TypeRegistry


@dataclass(frozen=True, slots=True)
class SimulatedExploration:
    """The swap randomisation as the simulated logger applies it."""

    epsilon: float
    depth: int
    seed: int = 0


def simulated_logs(
    simulator: Simulator,
    batches: Iterable[SearchBatch] | None = None,
    *,
    exploration: SimulatedExploration | None = None,
    type_weights: dict[str, float] | None = None,
) -> LoggedSearches:
    """The simulator's answered searches as logs (query_ids as its events carry them).

    With `exploration`, each search swaps one adjacent pair inside `depth` with probability
    `epsilon` (recorded as the SDK would), and the outcomes of swapped searches are drawn
    again from the same click model at their new positions.
    """
    sim = simulator
    truth = sim.truth
    cfg = sim.config
    weights = TypeRegistry(type_weights or {}).weights([CLICK, LONG_VIEW, PURCHASE])
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("query", "ts", "doc", "click", "conv", "reward", "eps", "dep", "swap")
    }
    ids: list[str] = []
    rng = np.random.default_rng([exploration.seed if exploration else 0, 99])
    for batch in sim.batches() if batches is None else batches:
        rows = batch.answered
        doc = batch.doc.copy()
        clicked, satisfied, purchased = batch.clicked, batch.satisfied, batch.purchased
        swap = np.full(rows.size, -1, dtype=np.int32)
        eps = np.zeros(rows.size)
        dep = np.zeros(rows.size, dtype=np.int32)
        if exploration is not None:
            depth = min(exploration.depth, doc.shape[1])
            eps[:] = exploration.epsilon
            dep[:] = depth
            swapped = rng.random(rows.size) < exploration.epsilon
            swap[swapped] = rng.integers(0, depth - 1, size=int(swapped.sum()))
            clicked, satisfied, purchased = (
                clicked.copy(), satisfied.copy(), purchased.copy(),
            )  # fmt: skip
            relevance = batch.relevance.copy()
            for r in np.flatnonzero(swapped):
                j = swap[r]
                doc[r, [j, j + 1]] = doc[r, [j + 1, j]]
                relevance[r, [j, j + 1]] = relevance[r, [j + 1, j]]
            _redraw(rng, swapped, relevance, truth.examination, cfg.purchase_rate,
                    clicked, satisfied, purchased)  # fmt: skip
        parts["query"].append(batch.query[rows])
        parts["ts"].append(batch.timestamp_ms[rows])
        parts["doc"].append(doc)
        parts["click"].append(clicked)
        parts["conv"].append(purchased)
        parts["reward"].append(
            clicked * weights[CLICK] + satisfied * weights[LONG_VIEW]
            + purchased * weights[PURCHASE]
        )  # fmt: skip
        parts["eps"].append(eps)
        parts["dep"].append(dep)
        parts["swap"].append(swap)
        ids.extend(f"q_{cfg.seed}_{batch.first_search + int(i)}" for i in rows)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    explored = exploration is not None
    return LoggedSearches(
        query=cat["query"].astype(np.int32),
        timestamp_ms=cat["ts"].astype(np.int64),
        shown=cat["doc"].astype(np.int32),
        clicks=cat["click"].astype(np.uint8),
        conversions=cat["conv"].astype(np.uint8),
        reward=cat["reward"].astype(np.float32),
        docs=pa.array(truth.doc_ids),
        queries=pa.array(truth.queries),
        query_ids=pa.array(ids),
        epsilon=cat["eps"] if explored else None,
        depth=cat["dep"] if explored else None,
        swap=cat["swap"] if explored else None,
    )


def _redraw(
    rng: np.random.Generator,
    rows: np.ndarray,
    relevance: np.ndarray,
    examination: np.ndarray,
    purchase_rate: float,
    clicked: np.ndarray,
    satisfied: np.ndarray,
    purchased: np.ndarray,
) -> None:
    rel = relevance[rows]
    examined = rng.random(rel.shape) < examination[None, :]
    click = examined & (rng.random(rel.shape) < rel)
    sat = click & (rng.random(rel.shape) < rel)
    clicked[rows], satisfied[rows] = click, sat
    purchased[rows] = sat & (rng.random(rel.shape) < purchase_rate)


def true_values(
    simulator: Simulator,
    candidate: Candidate,
    batches: Iterable[SearchBatch],
    *,
    type_weights: dict[str, float] | None = None,
) -> dict[Metric, float]:
    """The candidate's expected clicks, conversions and reward per answered search, on the
    given (fresh) simulated searches, from the simulator's own examination and relevance."""
    truth = simulator.truth
    weights = TypeRegistry(type_weights or {}).weights([CLICK, LONG_VIEW, PURCHASE])
    relevance = np.zeros((len(truth.queries) + 1, len(truth.doc_ids) + 1))
    rows = np.repeat(np.arange(truth.candidates.shape[0]), truth.candidates.shape[1])
    relevance[rows, truth.candidates.ravel()] = truth.relevance.ravel()
    logs = simulated_logs(simulator, batches)
    ranked = candidate.rank(logs)
    doc = np.where((ranked >= 0) & (ranked < len(truth.doc_ids)), ranked, len(truth.doc_ids))
    gamma = relevance[logs.query[:, None], doc]
    exam = np.zeros(ranked.shape)
    shown = min(truth.examination.size, ranked.shape[1])
    exam[:, :shown] = truth.examination[None, :shown]
    exam = np.where(ranked >= 0, exam, 0.0)
    rate = simulator.config.purchase_rate
    per_metric = {
        "clicks": exam * gamma,
        "conversions": exam * gamma * gamma * rate,
        "reward": exam * (gamma * weights[CLICK] + gamma * gamma * weights[LONG_VIEW]
                          + gamma * gamma * rate * weights[PURCHASE]),
    }  # fmt: skip
    return {m: float(per_metric[m].sum(axis=1).mean()) for m in METRICS}
