"""IPS, self-normalised IPS and doubly robust estimates of a ranking from logged clicks.

The model is the position-based one (PBM), as in Li et al., "Offline evaluation of ranking
policies with click models" (KDD 2018): an outcome at position j needs an examination, with
probability theta[j], and then depends on (query, document) only. A candidate ranking R of a
logged search would collect sum_t theta[t] * gamma[q, R[t]]; the estimators differ in how they
get at gamma from what the logger showed.

* ``ips``: item-position IPS. Each logged outcome of document a at position j in a search is
  moved to where the candidate puts a in that same search, t, with weight theta[t]/theta[j];
  documents the candidate shows that this search did not show add nothing. Unbiased given
  theta, whatever the logger did (the weight only uses this search's own positions), and as
  noisy as its largest weights (theta[0]/theta[k-1]).
* ``snips``: self-normalised. The same weights, normalised per (query, document) over every
  search that showed it: gamma is estimated as Y/E (outcomes over expected examinations, the
  ratio (Hajek) form of IPS), then placed at the candidate's positions. Exactly unbiased given
  the shown lists, and much steadier: one deep click no longer counts ten times by itself.
  Documents the logs never showed for the query add nothing.
* ``dr``: doubly robust. A direct model, gamma_m = (Y + kappa * query rate)/(E + kappa),
  cross-fitted on the other half of the searches, predicts every candidate slot (documents
  the logs never showed for the query get their query's rate), plus the residuals of the
  logged outcomes under the same pooled weights as ``snips``. Where the logs showed the
  candidate's documents it agrees with ``snips`` up to the cross-fitting; where they did not,
  it is only as good as the model (reported as support). (With this search's own weights
  instead, the direct term of a pure re-ordering cancels exactly and DR would be IPS.)

Intervals: each estimator is a mean of per-search terms (for ``snips`` its influence
function, the delta method), so a 95 % interval is mean +- 1.96 standard errors (CLT over
searches), and a difference of two policies on the same logs is the mean of per-search
differences. A Poisson bootstrap over searches is the alternative (``interval="bootstrap"``).
theta is taken as known; its own uncertainty is not in the interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np

from interaction_pipeline.counterfactual._logs import METRICS, NONE, LoggedSearches, Metric
from interaction_pipeline.counterfactual._pairs import PairTable
from schemas.errors import InvalidArgumentError

Estimator = Literal["ips", "snips", "dr"]
ESTIMATORS: Final[tuple[Estimator, ...]] = ("ips", "snips", "dr")
IntervalMethod = Literal["delta", "bootstrap"]
Z95: Final = 1.959963984540054
DEFAULT_PRIOR_STRENGTH: Final = 2.0
"""kappa: expected examinations' worth of the query rate in the direct model."""
DEFAULT_SUPPORT_RATIO: Final = 0.5
"""A logged position is comparable to a target one when its examination is at least this
share of the target's (with 1/(pos+1): target 0 needs 0-1, target 4 needs 0-9)."""
_CHUNK: Final = 200_000


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimator's value per search with its standard error and 95 % interval."""

    estimator: Estimator
    metric: Metric
    value: float
    std_error: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | str]:
        return {
            "value": self.value,
            "std_error": self.std_error,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True, slots=True, eq=False)
class PolicyTerms:
    """One ranking scored on one log: per-search terms of every estimator and metric (their
    means are the estimates), the weights behind them and how well the logs support it."""

    name: str
    ranked: np.ndarray
    terms: dict[tuple[Estimator, Metric], np.ndarray]
    support: float
    """Examination-weighted share of the candidate's top-k slots whose document the logs
    showed for that query at a comparable position."""
    support_slots: float
    """The same, unweighted: share of slots."""
    shown_share: float
    """Share of slots whose document the logs showed for that query at any position."""
    in_search_share: float
    """Share of slots whose document this very search showed (what IPS can use)."""
    changed_share: float
    """Share of searches whose top-k differs from the logged one."""
    ess: dict[str, float]
    """Kish effective sample size of the IPS and SNIPS weights over shown results, as a
    share of the shown results (1 = the logged policy itself)."""
    target_exam: np.ndarray = field(repr=False)
    """(n, k) theta at the candidate's positions (0 on padding), for the bootstrap."""
    ranked_code: np.ndarray = field(repr=False)

    def value(self, estimator: Estimator, metric: Metric) -> float:
        return float(self.terms[(estimator, metric)].mean())


class Evaluator:
    """Everything one log and one propensity curve share across candidates: the pair table
    and the cross-fitted direct model. `score(name, ranked)` then costs a few array passes."""

    def __init__(
        self,
        logs: LoggedSearches,
        theta: np.ndarray,
        *,
        prior_strength: float = DEFAULT_PRIOR_STRENGTH,
        support_ratio: float = DEFAULT_SUPPORT_RATIO,
        seed: int = 0,
    ) -> None:
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape != (logs.k,) or not np.all(theta > 0):
            raise InvalidArgumentError(
                f"theta: need {logs.k} positive propensities (one per position), got {theta!r}"
            )
        if logs.n == 0:
            raise InvalidArgumentError("logs: no answered searches in this range")
        self.logs = logs
        self.theta = theta / theta[0]
        self.support_ratio = support_ratio
        self.prior_strength = prior_strength
        self.pairs = PairTable.build(logs, self.theta)
        self.fold = np.random.default_rng(seed).integers(0, 2, size=logs.n)
        self.valid = logs.shown >= 0
        self.exam = np.where(self.valid, self.theta[None, :], 0.0)
        self._model = {m: self._direct_model(m) for m in METRICS}

    # -- the direct model ------------------------------------------------------------------
    def _direct_model(self, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
        """gamma_m per (fold, pair) and per (fold, query), each fitted on the other fold."""
        pairs, logs = self.pairs, self.logs
        y = logs.outcome(metric)
        nq = len(logs.queries)
        per_pair = np.zeros((2, pairs.size))
        per_query = np.zeros((2, nq))
        for fold in (0, 1):
            other = (self.fold != fold)[:, None] & self.valid
            code = pairs.code[other]
            e = np.bincount(code, weights=self.exam[other], minlength=pairs.size)
            o = np.bincount(code, weights=y[other], minlength=pairs.size)
            qe = np.bincount(pairs.query_of, weights=e, minlength=nq)
            qo = np.bincount(pairs.query_of, weights=o, minlength=nq)
            overall = qo.sum() / max(qe.sum(), 1e-12)
            rate = np.where(qe > 0, qo / np.maximum(qe, 1e-12), overall)
            per_query[fold] = rate
            kappa = self.prior_strength
            per_pair[fold] = (o + kappa * rate[pairs.query_of]) / (e + kappa)
        return per_pair, per_query

    # -- one candidate ---------------------------------------------------------------------
    def score(self, name: str, ranked: np.ndarray) -> PolicyTerms:
        logs, theta, pairs = self.logs, self.theta, self.pairs
        ranked = np.asarray(ranked)
        if ranked.shape != (logs.n, logs.k):
            raise InvalidArgumentError(
                f"{name}: a ranking must be ({logs.n}, {logs.k}) document indexes, "
                f"got {ranked.shape}"
            )
        slots = ranked >= 0
        target_exam = np.where(slots, theta[None, :], 0.0)
        code = pairs.lookup(logs.query, ranked)
        position = _positions_in(logs.shown, ranked)
        padded = np.append(theta, 0.0)  # position -1 (not in the candidate) -> 0
        weight = np.where(self.valid, padded[position] / theta[None, :], 0.0)

        terms: dict[tuple[Estimator, Metric], np.ndarray] = {}
        shown_code = pairs.code
        mass = np.bincount(code[code >= 0], weights=target_exam[code >= 0], minlength=pairs.size)
        pooled = mass / np.maximum(pairs.examinations, 1e-12)  # A / E per pair
        row_fold = self.fold[:, None]
        for metric in METRICS:
            y = logs.outcome(metric)
            terms[("ips", metric)] = (weight * y).sum(axis=1)
            gamma = pairs.rate(metric)
            g_shown = np.where(self.valid, gamma[shown_code], 0.0)
            g_ranked = np.where(code >= 0, gamma[np.maximum(code, 0)], 0.0)
            residual = np.where(self.valid, y - self.exam * g_shown, 0.0)
            a_over_e = np.where(self.valid, pooled[np.maximum(shown_code, 0)], 0.0)
            terms[("snips", metric)] = (target_exam * g_ranked).sum(axis=1) + (
                a_over_e * residual
            ).sum(axis=1)
            per_pair, per_query = self._model[metric]
            query_rate = per_query[self.fold, logs.query][:, None]
            m_ranked = np.where(code >= 0, per_pair[row_fold, np.maximum(code, 0)], query_rate)
            m_shown = np.where(self.valid, per_pair[row_fold, np.maximum(shown_code, 0)], 0.0)
            direct = (target_exam * m_ranked).sum(axis=1)
            correction = (a_over_e * np.where(self.valid, y - self.exam * m_shown, 0.0)).sum(axis=1)
            terms[("dr", metric)] = direct + correction

        best = np.where(code >= 0, pairs.best_theta[np.maximum(code, 0)], 0.0)
        supported = (code >= 0) & (best >= self.support_ratio * target_exam - 1e-12) & slots
        total_exam = max(float(target_exam.sum()), 1e-12)
        slot_count = max(int(slots.sum()), 1)
        in_search = _in_search(logs.shown, ranked)
        shown_k = logs.shown[:, : logs.k]
        return PolicyTerms(
            name=name,
            ranked=ranked,
            terms=terms,
            support=float((target_exam * supported).sum() / total_exam),
            support_slots=float(supported.sum() / slot_count),
            shown_share=float(((code >= 0) & slots).sum() / slot_count),
            in_search_share=float((in_search & slots).sum() / slot_count),
            changed_share=float((ranked != shown_k).any(axis=1).mean()),
            ess={
                "ips": _kish_share(weight[self.valid]),
                "snips": _kish_share(
                    np.where(self.valid, pooled[np.maximum(shown_code, 0)], 0)[self.valid]
                ),
            },
            target_exam=target_exam,
            ranked_code=code,
        )

    # -- intervals -------------------------------------------------------------------------
    def estimate(self, policy: PolicyTerms, estimator: Estimator, metric: Metric) -> Estimate:
        """Delta-method / CLT interval from the per-search terms."""
        return _from_terms(estimator, metric, policy.terms[(estimator, metric)])

    def difference(
        self, policy: PolicyTerms, baseline: PolicyTerms, estimator: Estimator, metric: Metric
    ) -> Estimate:
        """policy - baseline on the same searches (paired), with its interval."""
        key = (estimator, metric)
        return _from_terms(estimator, metric, policy.terms[key] - baseline.terms[key])

    def bootstrap(
        self, policies: list[PolicyTerms], resamples: int = 200, seed: int = 0
    ) -> dict[tuple[str, Estimator, Metric], np.ndarray]:
        """Poisson bootstrap over searches: (resamples,) values per (policy, estimator,
        metric). The SNIPS pooling and its denominators are recomputed in every resample;
        DR is resampled through its per-search terms (model and weights held fixed)."""
        rng = np.random.default_rng(seed)
        logs, pairs = self.logs, self.pairs
        valid_code = pairs.code[self.valid]
        out: dict[tuple[str, Estimator, Metric], np.ndarray] = {
            (p.name, e, m): np.empty(resamples) for p in policies for e in ESTIMATORS
            for m in METRICS
        }  # fmt: skip
        for b in range(resamples):
            w = rng.poisson(1.0, logs.n).astype(np.float64)
            total = max(w.sum(), 1.0)
            cell_w = np.broadcast_to(w[:, None], logs.shown.shape)
            exam = np.bincount(
                valid_code, weights=(self.exam * cell_w)[self.valid], minlength=pairs.size
            )
            rates = {
                m: np.bincount(
                    valid_code, weights=(logs.outcome(m) * cell_w)[self.valid],
                    minlength=pairs.size,
                ) / np.maximum(exam, 1e-12)
                for m in METRICS
            }  # fmt: skip
            for p in policies:
                hit = p.ranked_code >= 0
                mass = np.bincount(
                    p.ranked_code[hit], weights=(p.target_exam * cell_w)[hit],
                    minlength=pairs.size,
                )  # fmt: skip
                for m in METRICS:
                    out[(p.name, "snips", m)][b] = float((mass * rates[m]).sum() / total)
                    for e in ("ips", "dr"):
                        out[(p.name, e, m)][b] = float((w * p.terms[(e, m)]).sum() / total)
        return out


def _from_terms(estimator: Estimator, metric: Metric, terms: np.ndarray) -> Estimate:
    value = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(terms.size)) if terms.size > 1 else float("inf")
    return Estimate(estimator, metric, value, se, value - Z95 * se, value + Z95 * se)


def percentile_interval(
    estimator: Estimator, metric: Metric, point: float, samples: np.ndarray
) -> Estimate:
    """A bootstrap estimate: the point estimate with the 2.5 and 97.5 percentiles."""
    low, high = np.percentile(samples, [2.5, 97.5])
    return Estimate(estimator, metric, point, float(samples.std(ddof=1)), float(low), float(high))


def _positions_in(shown: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """(n, k) where the candidate puts each shown document in the same search; -1 if
    nowhere. k x k comparisons per search, in chunks to bound memory."""
    out = np.full(shown.shape, NONE, dtype=np.int64)
    k = ranked.shape[1]
    for start in range(0, shown.shape[0], _CHUNK):
        s, r = shown[start : start + _CHUNK], ranked[start : start + _CHUNK]
        match = (s[:, :, None] == r[:, None, :]) & (s[:, :, None] >= 0)
        found = match.any(axis=2)
        out[start : start + _CHUNK] = np.where(found, match.argmax(axis=2), NONE)
    del k
    return out


def _in_search(shown: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """(n, k) bool: the candidate's document at each slot was shown in the same search."""
    out = np.zeros(ranked.shape, dtype=bool)
    for start in range(0, shown.shape[0], _CHUNK):
        s, r = shown[start : start + _CHUNK], ranked[start : start + _CHUNK]
        out[start : start + _CHUNK] = ((r[:, :, None] == s[:, None, :]) & (r[:, :, None] >= 0)).any(
            axis=2
        )
    return out


def _kish_share(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2, as a share of the count."""
    if weights.size == 0:
        return 0.0
    square = float((weights * weights).sum())
    return float(weights.sum()) ** 2 / square / weights.size if square else 0.0
