"""Paired bootstrap over queries: how sure is a difference between two systems?

Resampling queries (not documents) with the same indices for both systems keeps the pairing,
so the interval reflects how much the difference depends on which queries were asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training.errors import ConfigError

_MAX_CELLS = 4_000_000
"""Resample matrix cells per chunk (32 MB of int64): bounds memory for large query sets."""


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval of the absolute and the relative (%) difference."""

    low: float
    high: float
    relative_low: float | None
    relative_high: float | None


def paired_bootstrap(
    base: NDArray[np.float64],
    other: NDArray[np.float64],
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile interval of mean(other) - mean(base) over query resamples."""
    if base.shape != other.shape or base.ndim != 1:
        raise ConfigError(
            f"paired arrays must be 1-d and equal in shape: {base.shape} vs {other.shape}"
        )
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence: must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ConfigError(f"resamples: must be >= 1, got {resamples}")
    n = base.shape[0]
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, None, None)
    rng = np.random.default_rng(seed)
    base_means = np.empty(resamples)
    other_means = np.empty(resamples)
    rows = max(1, _MAX_CELLS // n)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        base_means[start:stop] = base[idx].mean(axis=1)
        other_means[start:stop] = other[idx].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    diff = other_means - base_means
    low, high = np.percentile(diff, [tail, 100 - tail])
    relative_low = relative_high = None
    if np.all(base_means > 0):
        rel_low, rel_high = np.percentile(diff / base_means * 100, [tail, 100 - tail])
        relative_low, relative_high = float(rel_low), float(rel_high)
    return Interval(float(low), float(high), relative_low, relative_high)
