"""Logged searches as arrays: what was shown, where, and what came back.

Every estimator and every candidate works on these arrays, never on events one by one, so a
few million searches fit in memory and each step is a handful of numpy operations. Documents
and queries are dictionary-encoded (`shown` holds indexes into `docs`, `query` into
`queries`); -1 pads lists shorter than `k`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.errors import InvalidArgumentError

Metric = Literal["clicks", "conversions", "reward"]
METRICS: Final[tuple[Metric, ...]] = ("clicks", "conversions", "reward")
NONE: Final = -1
"""Padding in `shown` and in rankings; `swap` without a swap."""


@dataclass(frozen=True, slots=True, eq=False)
class LoggedSearches:
    """n answered searches, each with up to k shown results and their outcomes."""

    query: np.ndarray
    """(n,) int index into `queries`."""
    timestamp_ms: np.ndarray
    """(n,) int64 event time of the search."""
    shown: np.ndarray
    """(n, k) int index into `docs`, in shown order; -1 past the end of a list."""
    clicks: np.ndarray
    """(n, k) 1 where the result at that position was engaged with (click or better)."""
    conversions: np.ndarray
    """(n, k) 1 where it converted (add_to_cart, purchase)."""
    reward: np.ndarray
    """(n, k) type-weighted reward: the sum of the weights of the positive types seen."""
    docs: pa.Array
    """Document ids; `shown` indexes into it."""
    queries: pa.Array
    """Normalised query texts; `query` indexes into it."""
    query_ids: pa.Array | None = None
    """(n,) the logged query_id of each search (to join rankings given per search)."""
    scores: np.ndarray | None = None
    """(n, k) logged retriever scores (metadata.scores), NaN where not logged."""
    epsilon: np.ndarray | None = None
    """(n,) exploration probability (0: not explored)."""
    depth: np.ndarray | None = None
    """(n,) exploration depth."""
    swap: np.ndarray | None = None
    """(n,) swapped pair (j, j + 1) as j; -1: no swap."""
    _outcomes: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        n, k = self.shown.shape if self.shown.ndim == 2 else (-1, -1)
        for name in ("clicks", "conversions", "reward"):
            if getattr(self, name).shape != (n, k):
                raise InvalidArgumentError(f"{name}: must have the shape of shown ({n}, {k})")
        if self.query.shape != (n,) or self.timestamp_ms.shape != (n,):
            raise InvalidArgumentError(f"query and timestamp_ms: must have {n} entries")

    @property
    def n(self) -> int:
        return int(self.shown.shape[0])

    @property
    def k(self) -> int:
        return int(self.shown.shape[1])

    def outcome(self, metric: Metric) -> np.ndarray:
        """The (n, k) float64 outcome matrix of one metric."""
        if metric not in METRICS:
            raise InvalidArgumentError(f"metric: one of {', '.join(METRICS)}, got {metric!r}")
        cached = self._outcomes.get(metric)
        if cached is None:
            cached = np.asarray(getattr(self, metric), dtype=np.float64)
            self._outcomes[metric] = cached
        return cached

    @property
    def explored(self) -> np.ndarray:
        """(n,) bool: searches that went through the logged randomisation."""
        if self.epsilon is None:
            return np.zeros(self.n, dtype=bool)
        explored: np.ndarray = self.epsilon > 0
        return explored

    def with_docs(self, docs: pa.Array) -> LoggedSearches:
        """The same logs over a longer document vocabulary (new ids appended at the end)."""
        if len(docs) < len(self.docs):
            raise InvalidArgumentError("docs: a new vocabulary must extend the old one")
        return replace(self, docs=docs)

    def subset(self, rows: np.ndarray) -> LoggedSearches:
        """Only the searches at `rows` (an index or a boolean mask), same vocabularies."""

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        ids = None
        if self.query_ids is not None:
            index = np.flatnonzero(rows) if rows.dtype == bool else rows
            ids = self.query_ids.take(pa.array(index))
        return LoggedSearches(
            query=self.query[rows],
            timestamp_ms=self.timestamp_ms[rows],
            shown=self.shown[rows],
            clicks=self.clicks[rows],
            conversions=self.conversions[rows],
            reward=self.reward[rows],
            docs=self.docs,
            queries=self.queries,
            query_ids=ids,
            scores=take(self.scores),
            epsilon=take(self.epsilon),
            depth=take(self.depth),
            swap=take(self.swap),
        )


def from_arrow(table: pa.Table, k: int) -> LoggedSearches:
    """Build from the rows of analytics/sql/counterfactual_searches.sql (one per search)."""
    n = table.num_rows
    results = table.column("results").combine_chunks()
    lengths = np.minimum(pc.list_value_length(results).to_numpy(zero_copy_only=False), k)
    encoded = pc.dictionary_encode(pc.list_flatten(results))
    doc_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    parents = pc.list_parent_indices(results).to_numpy(zero_copy_only=False)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(pc.list_value_length(results).to_numpy(zero_copy_only=False), out=starts[1:])
    slot = np.arange(parents.size) - starts[parents]
    keep = slot < k
    shown = np.full((n, k), NONE, dtype=np.int32)
    shown[parents[keep], slot[keep]] = doc_codes[keep]

    queries = pc.dictionary_encode(table.column("query").combine_chunks())
    outcomes = {
        name: _scatter(table, name, n, k, lengths) for name in ("clicked", "converted", "reward")
    }
    scores = _scores(table.column("scores").combine_chunks(), n, k)
    swap = table.column("swap").to_numpy().astype(np.int32)
    epsilon = table.column("epsilon").to_numpy().astype(np.float64)
    depth = table.column("depth").to_numpy().astype(np.int32)
    return LoggedSearches(
        query=queries.indices.to_numpy(zero_copy_only=False).astype(np.int32),
        timestamp_ms=table.column("ts_ms").to_numpy().astype(np.int64),
        shown=shown,
        clicks=outcomes["clicked"].astype(np.uint8),
        conversions=outcomes["converted"].astype(np.uint8),
        reward=outcomes["reward"].astype(np.float32),
        docs=encoded.dictionary,
        queries=queries.dictionary,
        query_ids=table.column("query_id").combine_chunks(),
        scores=scores,
        epsilon=epsilon if (epsilon > 0).any() else None,
        depth=depth if (epsilon > 0).any() else None,
        swap=swap if (epsilon > 0).any() else None,
    )


def _scatter(table: pa.Table, name: str, n: int, k: int, lengths: np.ndarray) -> np.ndarray:
    """Per-search (position, value) lists into an (n, k) matrix; positions past a list's
    end (an interaction reporting a position that was not shown) are dropped."""
    positions = table.column("positions").combine_chunks()
    values = table.column(name).combine_chunks()
    out = np.zeros((n, k), dtype=np.float64)
    flat_pos = pc.list_flatten(positions).to_numpy(zero_copy_only=False).astype(np.int64)
    if flat_pos.size == 0:
        return out
    rows = pc.list_parent_indices(positions).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.float64)
    keep = flat_pos < lengths[rows]
    out[rows[keep], flat_pos[keep]] = flat[keep]
    return out


def _scores(scores: pa.Array, n: int, k: int) -> np.ndarray | None:
    lengths = pc.list_value_length(scores).to_numpy(zero_copy_only=False)
    if not lengths.any():
        return None
    out = np.full((n, k), np.nan)
    rows = pc.list_parent_indices(scores).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(scores).to_numpy(zero_copy_only=False).astype(np.float64)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    slot = np.arange(flat.size) - starts[rows]
    keep = slot < k
    out[rows[keep], slot[keep]] = flat[keep]
    return out
