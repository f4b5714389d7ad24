"""What the logs know about each (query, document): examinations, outcomes, best position.

Under the position-based model a click on document a at position j of a search for q happens
with probability theta[j] * gamma[q, a]. Summing theta[j] over every logged impression of
(q, a) gives its expected examinations E, summing outcomes gives Y, and Y / E estimates
gamma (exactly unbiased given the shown lists, whatever the logger did). This table is built
once per log and shared by every candidate; candidates only look their documents up in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interaction_pipeline.counterfactual._logs import METRICS, NONE, LoggedSearches, Metric

_SHIFT: Final = np.int64(32)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, code of each value): a hash pass (Arrow) and a sort of the
    distinct values only, instead of sorting every cell."""
    if values.size == 0:
        return values.astype(np.int64), np.zeros(0, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.array(values, type=pa.int64()))
    distinct = encoded.dictionary.to_numpy()
    order = np.argsort(distinct, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return distinct[order], rank[codes]


def pair_keys(query: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """(query, doc) as one int64 (query in the high half); -1 where doc is padding."""
    keys = (query.astype(np.int64)[:, None] << _SHIFT) | docs.astype(np.int64)
    keys[docs < 0] = NONE
    return keys


@dataclass(frozen=True, slots=True, eq=False)
class PairTable:
    """Per (query, doc) pair seen in the logs: examinations and outcomes, with the shown
    matrix's cell -> pair code (`code`, -1 on padding)."""

    keys: np.ndarray
    """Sorted unique pair keys."""
    code: np.ndarray
    """(n, k) pair code of each shown cell; -1 on padding."""
    query_of: np.ndarray
    """Query index of each pair."""
    examinations: np.ndarray
    """Sum of theta at the logged positions (relative units, theta[0] = 1)."""
    outcomes: dict[Metric, np.ndarray]
    best_theta: np.ndarray
    """Highest theta the pair was ever shown at (its best position)."""
    theta: np.ndarray

    @classmethod
    def build(cls, logs: LoggedSearches, theta: np.ndarray) -> PairTable:
        keys = pair_keys(logs.query, logs.shown)
        valid = keys >= 0
        unique, inverse = _factorize(keys[valid])
        code = np.full(keys.shape, NONE, dtype=np.int64)
        code[valid] = inverse
        position = np.broadcast_to(np.arange(logs.k)[None, :], keys.shape)[valid]
        exam = theta[position]
        best = np.zeros(unique.size)
        for j in np.argsort(theta, kind="stable"):  # higher theta assigned last, so it wins
            best[inverse[position == j]] = theta[j]
        return cls(
            keys=unique,
            code=code,
            query_of=(unique >> _SHIFT).astype(np.int64),
            examinations=np.bincount(inverse, weights=exam, minlength=unique.size),
            outcomes={
                m: np.bincount(inverse, weights=logs.outcome(m)[valid], minlength=unique.size)
                for m in METRICS
            },
            best_theta=best,
            theta=theta,
        )

    @property
    def size(self) -> int:
        return int(self.keys.size)

    def lookup(self, query: np.ndarray, ranked: np.ndarray) -> np.ndarray:
        """(n, k) pair code of each ranked cell; -1 where the logs never showed that
        document for that query (or on padding)."""
        keys = pair_keys(query, ranked)
        where = np.searchsorted(self.keys, keys)
        where = np.minimum(where, max(self.size - 1, 0))
        found = (keys >= 0) & (self.size > 0)
        if self.size:
            found &= self.keys[where] == keys
        return np.where(found, where, NONE)

    def rate(self, metric: Metric) -> np.ndarray:
        """Y / E per pair: the outcome per examination (gamma under the model)."""
        rate: np.ndarray = self.outcomes[metric] / np.maximum(self.examinations, 1e-12)
        return rate
