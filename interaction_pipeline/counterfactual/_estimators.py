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
    """Everything one log and one propensity curve share across candidates: the pair table,
    the logged cells as flat arrays and the cross-fitted direct model. `score(name, ranked)`
    then costs a few passes over the cells."""

    def __init__(
        self,
        logs: LoggedSearches,
        theta: np.ndarray,
        *,
        prior_strength: float = DEFAULT_PRIOR_STRENGTH,
        support_ratio: float = DEFAULT_SUPPORT_RATIO,
        seed: int = 0,
        fold: np.ndarray | None = None,
    ) -> None:
        """`fold`: the (n,) 0/1 cross-fitting fold of each search; by default a seeded
        draw over row order (`md5_folds` gives the split the SQL path uses)."""
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
        if fold is None:
            fold = np.random.default_rng(seed).integers(0, 2, size=logs.n)
        elif fold.shape != (logs.n,):
            raise InvalidArgumentError(f"fold: need {logs.n} entries, got {fold.shape}")
        self.fold = np.asarray(fold, dtype=np.int64)
        self.valid = logs.shown >= 0
        self.exam = np.where(self.valid, self.theta[None, :], 0.0)
        # The shown cells, flat: search, position, pair code, examination, outcomes.
        self.rows, self.positions = np.nonzero(self.valid)
        self.code = self.pairs.code[self.valid]
        self.cell_exam = self.theta[self.positions]
        self.y = {m: logs.outcome(m)[self.valid] for m in METRICS}
        self._model = {m: self._direct_model(m) for m in METRICS}

    # -- the direct model ------------------------------------------------------------------
    def _direct_model(self, metric: Metric) -> tuple[np.ndarray, np.ndarray]:
        """gamma_m per (fold, pair) and per (fold, query), each fitted on the other fold."""
        pairs, logs = self.pairs, self.logs
        nq = len(logs.queries)
        per_pair = np.zeros((2, pairs.size))
        per_query = np.zeros((2, nq))
        cell_fold = self.fold[self.rows]
        for fold in (0, 1):
            other = cell_fold != fold
            code = self.code[other]
            e = np.bincount(code, weights=self.cell_exam[other], minlength=pairs.size)
            o = np.bincount(code, weights=self.y[metric][other], minlength=pairs.size)
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
        logs, theta, pairs, n = self.logs, self.theta, self.pairs, self.logs.n
        ranked = np.asarray(ranked)
        if ranked.shape != (logs.n, logs.k):
            raise InvalidArgumentError(
                f"{name}: a ranking must be ({logs.n}, {logs.k}) document indexes, "
                f"got {ranked.shape}"
            )
        # Where the candidate puts each shown cell, and which shown cell fills each slot.
        target = _positions_in(logs.shown, ranked)
        source = np.full(ranked.shape, NONE, dtype=np.int64)
        hit_r, hit_j = np.nonzero(target >= 0)
        source[hit_r, target[hit_r, hit_j]] = hit_j
        slots = ranked >= 0
        r_rows, r_pos = np.nonzero(slots)
        r_src = source[r_rows, r_pos]
        r_code = np.where(r_src >= 0, pairs.code[r_rows, np.maximum(r_src, 0)], NONE)
        missing = (r_src < 0) & (ranked[r_rows, r_pos] >= 0)
        if missing.any():  # documents this search did not show: maybe other searches did
            r_code[missing] = pairs.lookup(
                logs.query[r_rows[missing]], ranked[r_rows[missing], r_pos[missing]][:, None]
            )[:, 0]
        r_exam = theta[r_pos]
        found = r_code >= 0
        code_r = np.maximum(r_code, 0)

        padded = np.append(theta, 0.0)  # target -1 (not in the candidate) -> weight 0
        weight = padded[target[self.rows, self.positions]] / self.cell_exam
        mass = np.bincount(r_code[found], weights=r_exam[found], minlength=pairs.size)
        pooled = (mass / np.maximum(pairs.examinations, 1e-12))[self.code]  # A / E per cell
        r_fold = self.fold[r_rows]
        c_fold = self.fold[self.rows]

        def per_search(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
            out: np.ndarray = np.bincount(rows, weights=values, minlength=n)
            return out

        terms: dict[tuple[Estimator, Metric], np.ndarray] = {}
        size = pairs.size
        # 1-D gathers only (2-D fancy indexing is several times slower): a pair's entry of
        # fold f sits at f * size + code; the query rates follow at 2 * size + f * nq + q.
        r_model = np.where(
            found,
            r_fold * size + code_r,
            2 * size + r_fold * len(logs.queries) + logs.query[r_rows],
        )
        c_model = c_fold * size + self.code
        for metric in METRICS:
            y = self.y[metric]
            terms[("ips", metric)] = per_search(self.rows, weight * y)
            gamma = np.append(pairs.rate(metric), 0.0)  # code -1 reads the trailing 0
            residual = y - self.cell_exam * gamma[self.code]
            terms[("snips", metric)] = per_search(r_rows, r_exam * gamma[r_code]) + per_search(
                self.rows, pooled * residual
            )
            per_pair, per_query = self._model[metric]
            model = np.concatenate([per_pair.ravel(), per_query.ravel()])
            terms[("dr", metric)] = per_search(r_rows, r_exam * model[r_model]) + per_search(
                self.rows, pooled * (y - self.cell_exam * model[c_model])
            )

        best = np.where(found, pairs.best_theta[code_r], 0.0)
        supported = found & (best >= self.support_ratio * r_exam - 1e-12)
        total_exam = max(float(r_exam.sum()), 1e-12)
        slot_count = max(int(r_rows.size), 1)
        target_exam = np.where(slots, theta[None, :], 0.0)
        ranked_code = np.full(ranked.shape, NONE, dtype=np.int64)
        ranked_code[r_rows, r_pos] = r_code
        return PolicyTerms(
            name=name,
            ranked=ranked,
            terms=terms,
            support=float((r_exam * supported).sum() / total_exam),
            support_slots=float(supported.sum() / slot_count),
            shown_share=float(found.sum() / slot_count),
            in_search_share=float((r_src >= 0).sum() / slot_count),
            changed_share=float((ranked != logs.shown).any(axis=1).mean()),
            ess={"ips": _kish_share(weight), "snips": _kish_share(pooled)},
            target_exam=target_exam,
            ranked_code=ranked_code,
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
    nowhere. One (n, k) comparison per candidate slot (k passes, no n x k x k temporary)."""
    out = np.full(shown.shape, NONE, dtype=np.int64)
    valid = shown >= 0
    for t in range(ranked.shape[1] - 1, -1, -1):  # the first slot wins on duplicates
        out[(shown == ranked[:, t : t + 1]) & valid] = t
    return out


def _kish_share(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2, as a share of the count."""
    if weights.size == 0:
        return 0.0
    square = float((weights * weights).sum())
    return float(weights.sum()) ** 2 / square / weights.size if square else 0.0
