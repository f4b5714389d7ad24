"""Popularity counts as they were when each logged search happened.

A boost candidate must be replayed with the counts a reranker would have read from Redis at
the time of each search, not today's: otherwise it would "know" the clicks its own search
received. The popularity worker keeps hour buckets on event time, and a D-day window at time
t holds the buckets from hour(t) - 24 D on; so the count of a document at search time t is
the weighted sum of its interactions with timestamp in [start of hour(t) - 24 D, t).

Approximations (docs/counterfactual.md): event time stands in for the time the worker
applied an event (the worker's lag, seconds, is ignored); late events the worker refused and
events erased since are not in ClickHouse either way; resent events are counted once only
with `--dedupe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np

from interaction_pipeline.counterfactual._logs import LoggedSearches
from stream_processors import BoostConfig

HOUR_MS: Final = 3_600_000


class CountSource(Protocol):
    """Weighted interaction counts of every shown document, as a boost would read them."""

    def weighted_counts(self, logs: LoggedSearches, config: BoostConfig) -> np.ndarray:
        """(n, k) weighted count per shown cell (0 on padding)."""
        ...


@dataclass(frozen=True, slots=True, eq=False)
class InteractionTimeline:
    """Weighted interactions per document and time (one config's types and weights)."""

    doc: np.ndarray
    """Index into the logs' document vocabulary (-1: a document no search showed)."""
    timestamp_ms: np.ndarray
    weight: np.ndarray

    def counts_at(self, logs: LoggedSearches, window_days: int) -> np.ndarray:
        """(n, k) weighted count of each shown document in the window ending at its search."""
        keep = self.doc >= 0
        doc, ts, weight = self.doc[keep], self.timestamp_ms[keep], self.weight[keep]
        out = np.zeros(logs.shown.shape)
        if doc.size == 0:
            return out
        origin = int(min(ts.min(), logs.timestamp_ms.min())) - 24 * window_days * HOUR_MS - 1
        span = np.int64(1) << np.int64(40)  # ~35 years of ms per document
        key = doc.astype(np.int64) * span + (ts - origin)
        order = np.argsort(key, kind="stable")
        key = key[order]
        cumulative = np.concatenate([[0.0], np.cumsum(weight[order])])
        valid = logs.shown >= 0
        cell_doc = logs.shown[valid].astype(np.int64)
        search_ts = np.broadcast_to(logs.timestamp_ms[:, None], logs.shown.shape)[valid]
        window_start = (search_ts // HOUR_MS - 24 * window_days) * HOUR_MS
        hi = np.searchsorted(key, cell_doc * span + (search_ts - origin), side="left")
        lo = np.searchsorted(key, cell_doc * span + (window_start - origin), side="left")
        out[valid] = cumulative[hi] - cumulative[lo]
        return out


class TimelineCounts:
    """A CountSource over interaction timelines, one per (types, weights) of a config."""

    def __init__(self, loader: TimelineLoader, default_window_days: int = 7) -> None:
        self._loader = loader
        self._cache: dict[tuple[tuple[str, float], ...], InteractionTimeline] = {}
        self.default_window_days = default_window_days

    def weighted_counts(self, logs: LoggedSearches, config: BoostConfig) -> np.ndarray:
        days = config.time_window_days or self.default_window_days
        weights = self._loader.weights(config.interaction_types)
        key = tuple(sorted(weights.items()))
        if key not in self._cache:
            self._cache[key] = self._loader.timeline(logs, weights, days)
        return self._cache[key].counts_at(logs, days)


class TimelineLoader(Protocol):
    def weights(self, types: list[str]) -> dict[str, float]: ...

    def timeline(
        self, logs: LoggedSearches, weights: Mapping[str, float], window_days: int
    ) -> InteractionTimeline: ...


@dataclass(frozen=True, slots=True)
class StaticCounts:
    """Fixed weighted counts per document id (a snapshot, or a test's popularity)."""

    counts: Mapping[str, float]

    def weighted_counts(self, logs: LoggedSearches, config: BoostConfig) -> np.ndarray:
        ids = logs.docs.to_pylist()
        per_doc = np.array([float(self.counts.get(d, 0.0)) for d in ids] + [0.0])
        counts: np.ndarray = per_doc[logs.shown]
        return counts  # padding (-1) reads the trailing 0
