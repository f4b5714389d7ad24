"""Position-bias estimation: a position-based click model fitted by EM on logged impressions.

Why EM and not a randomisation experiment: we only have the logs. Under the position-based
model (PBM) P(click | q, d, k) = theta[k] * gamma[q, d]: a result is clicked when it is
examined (probability theta[k], depending on the position only) and found relevant
(gamma[q, d], depending on the pair only). EM alternates between the posterior of "examined"
and "relevant" for every unclicked impression and closed-form maxima for theta and gamma, on
aggregated (pair, position, impressions, clicks) tuples, so its cost grows with distinct tuples,
not with events. This is regression-EM (Wang et al., WSDM 2018) with the simplest possible
regression: our logs carry no document features, so the relevance "model" is a table with one
gamma per (query, doc), whose M-step optimum is the posterior mean.

theta is only identifiable from pairs seen at two or more positions (rank variation): for a
pair always shown at the same position, theta and gamma trade off freely. So the fit uses the
varied pairs, reports how much variation there is, and falls back to the documented prior
1/(position + 1) ** eta wherever fewer than `min_impressions` varied impressions back a
position. Only ratios theta[k] / theta[0] are identifiable, and those are what is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import numpy as np

PRIOR_ETA: Final = 1.0
"""The fallback prior is (position + 1) ** -PRIOR_ETA, i.e. 1/(position + 1)."""
DEFAULT_MIN_IMPRESSIONS: Final = 500
DEFAULT_MAX_POSITIONS: Final = 50
DEFAULT_CLIP: Final = 20.0
"""Largest inverse-propensity weight; caps the variance a few deep clicks can add."""
_EPS: Final = 1e-9
METHOD: Final = "position-based model, regression-EM with a per-(query, doc) relevance table"

Source = Literal["em", "prior"]


def prior_propensity(positions: np.ndarray | Sequence[int], eta: float = PRIOR_ETA) -> np.ndarray:
    """The documented prior, relative to position 0: (position + 1) ** -eta."""
    return np.power(np.asarray(positions, dtype=np.float64) + 1.0, -eta)


@dataclass(frozen=True, slots=True)
class ClickCounts:
    """Impressions and clicks per (pair, position); `pair` holds dense ids 0..pairs-1."""

    pair: np.ndarray
    position: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray

    @classmethod
    def from_columns(
        cls,
        pair_key: np.ndarray | Sequence[Any],
        position: np.ndarray | Sequence[int],
        impressions: np.ndarray | Sequence[float],
        clicks: np.ndarray | Sequence[float],
    ) -> ClickCounts:
        """Build from any hashable pair key (e.g. cityHash64(query, feature_id) from SQL).

        Rows with the same (pair, position) are summed; clicks above impressions (clicks on
        results whose impression was not logged) are capped at the impressions.
        """
        keys = np.asarray(pair_key)
        pos = np.asarray(position, dtype=np.int64)
        imp = np.asarray(impressions, dtype=np.float64)
        clk = np.minimum(np.asarray(clicks, dtype=np.float64), imp)
        if keys.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty.astype(np.float64), empty.astype(np.float64))
        _, pair = np.unique(keys, return_inverse=True)
        pair = pair.reshape(-1).astype(np.int64)
        return cls.aggregate(pair, pos, imp, clk)

    @classmethod
    def aggregate(
        cls, pair: np.ndarray, position: np.ndarray, impressions: np.ndarray, clicks: np.ndarray
    ) -> ClickCounts:
        width = int(position.max()) + 1 if position.size else 1
        key = pair.astype(np.int64) * width + position
        uniq, inverse = np.unique(key, return_inverse=True)
        return cls(
            pair=uniq // width,
            position=uniq % width,
            impressions=np.bincount(inverse, weights=impressions, minlength=uniq.size),
            clicks=np.bincount(inverse, weights=clicks, minlength=uniq.size),
        )

    @property
    def pairs(self) -> int:
        return int(self.pair.max()) + 1 if self.pair.size else 0


@dataclass(frozen=True, slots=True)
class RankVariation:
    """How often the same (query, doc) was shown at different positions: identifiability."""

    pairs: int
    varied_pairs: int
    """Pairs seen at two or more positions."""
    varied_impression_share: float
    """Share of impressions that belong to varied pairs (0 = bias not identifiable)."""
    mean_positions_per_pair: float
    """Distinct positions per pair, averaged over impressions."""


@dataclass(frozen=True, slots=True)
class PositionPropensity:
    position: int
    propensity: float
    """Examination probability relative to position 0."""
    impressions: int
    """Impressions of varied pairs at this position (what the estimate rests on)."""
    clicks: int
    source: Source


@dataclass(frozen=True, slots=True)
class FitSummary:
    iterations: int
    converged: bool
    max_change: float
    """Largest change of a relative propensity in the last iteration."""
    log_likelihood: float
    initial_log_likelihood: float
    pairs: int
    impressions: int
    clicks: int


@dataclass(frozen=True, slots=True)
class BiasEstimate:
    """Relative examination propensity per position, with what backs each number."""

    positions: tuple[PositionPropensity, ...]
    fit: FitSummary
    rank_variation: RankVariation
    prior_eta: float = PRIOR_ETA
    notes: tuple[str, ...] = ()
    method: str = METHOD

    def propensity(self, positions: np.ndarray | Sequence[int]) -> np.ndarray:
        """Relative propensity at any position; beyond the table the prior's shape continues
        from the last known position."""
        pos = np.asarray(positions, dtype=np.int64)
        table = np.array([p.propensity for p in self.positions], dtype=np.float64)
        if table.size == 0:
            return prior_propensity(pos, self.prior_eta)
        last = table.size - 1
        tail = (
            table[last]
            * prior_propensity(pos, self.prior_eta)
            / prior_propensity([last], self.prior_eta)
        )
        return np.where(pos <= last, table[np.clip(pos, 0, last)], tail)

    def inverse_weights(
        self, positions: np.ndarray | Sequence[int], clip: float = DEFAULT_CLIP
    ) -> np.ndarray:
        """Clipped inverse-propensity weights: 1 at position 0, at most `clip` anywhere."""
        weights: np.ndarray = np.minimum(1.0 / np.maximum(self.propensity(positions), _EPS), clip)
        return weights

    @property
    def uses_prior(self) -> bool:
        return any(p.source == "prior" for p in self.positions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "prior": f"1/(position+1)^{self.prior_eta:g}",
            "prior_eta": self.prior_eta,
            "positions": [asdict(p) for p in self.positions],
            "fit": asdict(self.fit),
            "rank_variation": asdict(self.rank_variation),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BiasEstimate:
        """Read back what `to_dict` (and `interactions bias --json`) wrote."""
        return cls(
            positions=tuple(PositionPropensity(**p) for p in data["positions"]),
            fit=FitSummary(**data["fit"]),
            rank_variation=RankVariation(**data["rank_variation"]),
            prior_eta=float(data.get("prior_eta", PRIOR_ETA)),
            notes=tuple(data.get("notes", ())),
            method=str(data.get("method", METHOD)),
        )

    @classmethod
    def prior_only(cls, positions: int, eta: float = PRIOR_ETA, note: str = "") -> BiasEstimate:
        """The prior alone, for logs without impressions (no search events)."""
        table = prior_propensity(np.arange(positions), eta)
        return cls(
            positions=tuple(
                PositionPropensity(k, float(table[k]), 0, 0, "prior") for k in range(positions)
            ),
            fit=FitSummary(0, False, 0.0, 0.0, 0.0, 0, 0, 0),
            rank_variation=RankVariation(0, 0, 0.0, 0.0),
            prior_eta=eta,
            notes=(note,) if note else (),
        )


def rank_variation(counts: ClickCounts) -> tuple[RankVariation, np.ndarray]:
    """The variation summary and a per-row mask of rows belonging to varied pairs."""
    if counts.pair.size == 0:
        return RankVariation(0, 0, 0.0, 0.0), np.zeros(0, dtype=bool)
    distinct = np.bincount(counts.pair, minlength=counts.pairs)  # rows are unique (pair, pos)
    varied_row = distinct[counts.pair] >= 2
    total = counts.impressions.sum()
    summary = RankVariation(
        pairs=counts.pairs,
        varied_pairs=int((distinct >= 2).sum()),
        varied_impression_share=float(counts.impressions[varied_row].sum() / total)
        if total
        else 0.0,
        mean_positions_per_pair=float((distinct[counts.pair] * counts.impressions).sum() / total)
        if total
        else 0.0,
    )
    return summary, varied_row


class _PositionBasedModel:
    """The data of one fit and the two maps EM needs: one EM step, and the log-likelihood."""

    def __init__(
        self, pair: np.ndarray, position: np.ndarray, impressions: np.ndarray,
        clicks: np.ndarray, positions: int,
    ) -> None:  # fmt: skip
        _, inverse = np.unique(pair, return_inverse=True)
        self.pair = inverse.reshape(-1)
        self.position = position
        self.positions = positions
        self.pairs = int(self.pair.max()) + 1 if self.pair.size else 0
        self.n = impressions.astype(np.float64)
        self.c = clicks.astype(np.float64)
        self.u = self.n - self.c
        self.n_pos = np.maximum(np.bincount(position, weights=self.n, minlength=positions), _EPS)
        self.n_pair = np.maximum(np.bincount(self.pair, weights=self.n, minlength=self.pairs), _EPS)

    def start(self, prior_eta: float) -> np.ndarray:
        """Initial (theta, gamma) as one vector: the prior, and each pair's clicks over its
        prior-expected examinations (a start close to the answer saves many EM steps)."""
        theta = np.clip(prior_propensity(np.arange(self.positions), prior_eta), 0.05, 0.95)
        clicks = np.bincount(self.pair, weights=self.c, minlength=self.pairs)
        examined = np.bincount(
            self.pair, weights=self.n * theta[self.position], minlength=self.pairs
        )
        gamma = np.clip(clicks / np.maximum(examined, _EPS), 0.01, 0.99)
        return np.concatenate([theta, gamma])

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[: self.positions], x[self.positions :]

    def step(self, x: np.ndarray) -> np.ndarray:
        """One EM step: posteriors of "examined" and "relevant" for the unclicked impressions
        (a click means both), then the closed-form maxima."""
        theta, gamma = self.split(x)
        t, g = theta[self.position], gamma[self.pair]
        denom = np.maximum(1.0 - t * g, _EPS)
        examined = self.c + self.u * t * (1.0 - g) / denom
        relevant = self.c + self.u * (1.0 - t) * g / denom
        new_theta = np.bincount(self.position, weights=examined, minlength=self.positions)
        new_gamma = np.bincount(self.pair, weights=relevant, minlength=self.pairs)
        updated = np.concatenate([new_theta / self.n_pos, new_gamma / self.n_pair])
        clipped: np.ndarray = np.clip(updated, _EPS, 1 - _EPS)
        return clipped

    def log_likelihood(self, x: np.ndarray) -> float:
        theta, gamma = self.split(x)
        p = np.clip(theta[self.position] * gamma[self.pair], _EPS, 1 - _EPS)
        return float((self.c * np.log(p) + self.u * np.log1p(-p)).sum())

    def relative(self, x: np.ndarray) -> np.ndarray:
        theta = x[: self.positions]
        relative: np.ndarray = theta / theta[0]
        return relative


def fit_pbm(
    pair: np.ndarray,
    position: np.ndarray,
    impressions: np.ndarray,
    clicks: np.ndarray,
    *,
    positions: int,
    prior_eta: float = PRIOR_ETA,
    max_iter: int = 2_000,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, FitSummary]:
    """EM for the position-based model; returns (theta, gamma, summary).

    Plain EM converges linearly and slowly here (hundreds of steps), so the steps are
    accelerated with SQUAREM (Varadhan and Roland, 2008: two EM steps give a direction, a
    step length is extrapolated along it, then one EM step stabilises); an extrapolation that
    lowers the likelihood is dropped for the plain EM result, so the fit never gets worse.
    `max_iter` counts EM steps. theta is absolute (its scale is whatever EM settled on);
    divide by theta[0] for the identifiable ratios.
    """
    model = _PositionBasedModel(pair, position, impressions, clicks, positions)
    x = model.start(prior_eta)
    initial = log_likelihood = model.log_likelihood(x)
    change = np.inf
    steps = 0
    while steps < max_iter and change >= tol:
        x1 = model.step(x)
        x2 = model.step(x1)
        steps += 2
        r, v = x1 - x, x2 - 2 * x1 + x
        v_norm = float(np.sqrt((v * v).sum()))
        alpha = min(-float(np.sqrt((r * r).sum())) / v_norm if v_norm > 0 else -1.0, -1.0)
        candidate, candidate_ll = x2, None
        if alpha < -1.0:
            jumped = np.clip(x - 2 * alpha * r + alpha * alpha * v, _EPS, 1 - _EPS)
            stabilised = model.step(jumped)
            steps += 1
            stabilised_ll = model.log_likelihood(stabilised)
            if stabilised_ll >= log_likelihood:  # EM itself never lowers the likelihood
                candidate, candidate_ll = stabilised, stabilised_ll
        log_likelihood = (
            candidate_ll if candidate_ll is not None else model.log_likelihood(candidate)
        )
        change = float(np.abs(model.relative(candidate) - model.relative(x)).max())
        x = candidate
    theta, gamma = model.split(x)
    summary = FitSummary(
        iterations=steps,
        converged=change < tol,
        max_change=change,
        log_likelihood=log_likelihood,
        initial_log_likelihood=initial,
        pairs=model.pairs,
        impressions=int(model.n.sum()),
        clicks=int(model.c.sum()),
    )
    return theta, gamma, summary


def estimate_position_bias(
    counts: ClickCounts,
    *,
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS,
    max_positions: int = DEFAULT_MAX_POSITIONS,
    prior_eta: float = PRIOR_ETA,
    max_iter: int = 2_000,
    tol: float = 1e-6,
) -> BiasEstimate:
    """Fit the PBM on the varied pairs and report relative propensities per position."""
    variation, varied = rank_variation(counts)
    keep = varied & (counts.position < max_positions)
    pair, pos = counts.pair[keep], counts.position[keep]
    n, c = counts.impressions[keep], counts.clicks[keep]
    positions = int(counts.position[counts.position < max_positions].max()) + 1 if (
        counts.position.size and (counts.position < max_positions).any()
    ) else 0  # fmt: skip
    if positions == 0:
        return BiasEstimate.prior_only(
            0, prior_eta, "no impressions: every propensity is the 1/(position+1) prior"
        )
    if pair.size == 0:
        return _with_variation(
            BiasEstimate.prior_only(
                positions,
                prior_eta,
                "no (query, doc) was shown at two positions: the bias is not identifiable "
                f"from these logs, every propensity is the prior 1/(position+1)^{prior_eta:g}",
            ),
            variation,
        )
    theta, _, fit = fit_pbm(
        pair, pos, n, c, positions=positions, prior_eta=prior_eta, max_iter=max_iter, tol=tol
    )
    behind = np.bincount(pos, weights=n, minlength=positions)
    clicked = np.bincount(pos, weights=c, minlength=positions)
    return _assemble(theta, behind, clicked, fit, variation, min_impressions, prior_eta)


def _assemble(
    theta: np.ndarray,
    behind: np.ndarray,
    clicked: np.ndarray,
    fit: FitSummary,
    variation: RankVariation,
    min_impressions: int,
    prior_eta: float,
) -> BiasEstimate:
    positions = theta.size
    prior = prior_propensity(np.arange(positions), prior_eta)
    thin = behind < min_impressions
    notes: list[str] = []
    if thin[0]:
        relative = prior
        thin[:] = True
        notes.append(
            f"position 0 has {int(behind[0])} varied impressions (< {min_impressions}): "
            f"every propensity is the prior 1/(position+1)^{prior_eta:g}"
        )
    else:
        relative = np.where(thin, prior, theta / theta[0])
        if thin.any():
            notes.append(
                f"positions {_ranges(np.flatnonzero(thin))} have fewer than {min_impressions} "
                f"varied impressions and use the prior 1/(position+1)^{prior_eta:g}"
            )
    if variation.varied_impression_share < 0.2:
        notes.append(
            f"little rank variation: only {variation.varied_impression_share:.0%} of "
            "impressions come from (query, doc) pairs seen at two or more positions"
        )
    if not fit.converged:
        notes.append(f"EM stopped after {fit.iterations} iterations without converging")
    rows = tuple(
        PositionPropensity(
            position=k,
            propensity=float(relative[k]),
            impressions=int(behind[k]),
            clicks=int(clicked[k]),
            source="prior" if thin[k] else "em",
        )
        for k in range(positions)
    )
    return BiasEstimate(rows, fit, variation, prior_eta, tuple(notes))


def _with_variation(estimate: BiasEstimate, variation: RankVariation) -> BiasEstimate:
    return BiasEstimate(
        estimate.positions, estimate.fit, variation, estimate.prior_eta, estimate.notes
    )


def _ranges(values: np.ndarray) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    parts: list[str] = []
    start = prev = int(values[0])
    for v in (int(x) for x in values[1:]):
        if v != prev + 1:
            parts.append(f"{start}-{prev}" if prev > start else str(start))
            start = v
        prev = v
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ", ".join(parts)


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2: how many equally weighted examples
    the weighted set is worth."""
    w = np.asarray(weights, dtype=np.float64)
    square = float((w * w).sum())
    return float(w.sum()) ** 2 / square if square else 0.0
